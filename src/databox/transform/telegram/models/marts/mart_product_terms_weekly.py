"""Product lexicon terms per ISO week (Monday, UTC) over all posts: mentions,
messages and channels mentioning each term, and its rank in the week.

A Python model: tokenising in Python (``databox.transform.telegram.terms``) counts
the same on DuckDB and PostgreSQL, whose regular expressions differ on Unicode.
FULL: a week's counts are small, and a changed lexicon must recount every week. The
lexicon and tokeniser digests are read with ``context.var``, which puts them into the
model's fingerprint: editing the lexicon file makes the next plan rebuild this model.
"""

from __future__ import annotations

import typing as t
from datetime import datetime

import pandas as pd
from sqlglot import exp
from sqlmesh import ExecutionContext, model

COLUMNS = {
    "week_start": "date",
    "term": "text",
    "mentions": "bigint",
    "messages": "bigint",
    "channels": "bigint",
    "rank": "int",
}


def _columns(*names: str) -> exp.Tuple:
    """Audit arguments are SQL: a tuple of columns, as ``columns := (a, b)`` in SQL."""
    return exp.Tuple(expressions=[exp.column(n) for n in names])


@model(
    "telegram_marts.mart_product_terms_weekly",
    kind="FULL",
    columns=COLUMNS,
    grain=["week_start", "term"],
    depends_on=["telegram_staging.stg_telegram_messages"],
    audits=[
        ("not_null", {"columns": _columns("week_start", "term", "mentions", "messages", "rank")}),
        ("unique_combination_of_columns", {"columns": _columns("week_start", "term")}),
        ("unique_combination_of_columns", {"columns": _columns("week_start", "rank")}),
        ("accepted_range", {"column": exp.column("rank"), "min_v": exp.Literal.number(1)}),
    ],
)
def execute(
    context: ExecutionContext,
    start: datetime,
    end: datetime,
    execution_time: datetime,
    **kwargs: t.Any,
) -> t.Iterator[pd.DataFrame]:
    from databox.transform.telegram import terms

    expected = context.var("product_lexicon_sha256")
    context.var("product_tokenizer_sha256")  # fingerprint only
    path = terms.lexicon_path()
    if expected and terms.file_sha256(path) != expected:
        # The Context was configured with another lexicon: counting with this one
        # would store results under the wrong fingerprint.
        raise RuntimeError(f"product lexicon {path} changed since the SQLMesh context was built")
    lexicon = terms.load_lexicon(path)
    table = context.resolve_table("telegram_staging.stg_telegram_messages")
    texts = context.fetchdf(
        f"SELECT channel, message_id, message_date, text FROM {table} WHERE text IS NOT NULL"
    )
    rows = (
        (r.channel, int(r.message_id), pd.Timestamp(r.message_date).date(), r.text)
        for r in texts.itertuples(index=False)
    )
    counts = terms.weekly_term_counts(rows, lexicon)
    if not counts:
        yield from ()  # SQLMesh refuses an empty DataFrame; no rows is an empty iterator
        return
    yield pd.DataFrame(counts, columns=list(COLUMNS))
