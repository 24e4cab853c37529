"""Keep the Telegram marts in step with the raw tables, a day at a time.

SQLMesh computes missing intervals only: a day already built is not rebuilt when its
raw rows change later (a late edit, views scraped again, an image enriched). So
``refresh_telegram_marts`` asks the raw tables which message dates changed since the
last successful refresh and restates exactly that range::

    result = refresh_telegram_marts("duckdb:///data/warehouse.duckdb")
    result.changed_dates          # the UTC message dates whose raw rows changed
    result.start, result.end      # the restated range (None: nothing changed)

A date counts as changed when a raw row has ``loaded_at`` after the watermark: a
message (its own date), or an image's enrichment or detection row (the date of the
message the image belongs to). The watermark is the newest ``loaded_at`` seen in those
tables, kept in ``sqlmesh_telegram.databox_watermark`` (one row, ``name`` =
'telegram_marts'), beside SQLMesh's own state for the project: a warehouse replaced
or restored brings its watermark with it. It is read *before* the plan and written
only after it succeeded, so a failed refresh restates the same days next time, and
rows loaded during a refresh are picked up by the next one.

No change: a plain ``plan_and_apply()`` (model edits, today's partial day, FULL
models rebuilt from identical inputs), which leaves every table's rows unchanged.
Limits: deleted raw rows leave no ``loaded_at`` behind; ``full=True`` restates every
message date. The DuckDB lock is taken only while reading or writing the watermark,
never while the runner works (it takes the lock itself).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from databox.transform.project_state import files_digest, has_prod_environment
from databox.transform.runner import TELEGRAM_PROJECT_DIR, PlanSummary, SqlMeshRunner
from databox.warehouse import Column, Session, Table, connect

WATERMARK = Table(
    "sqlmesh_telegram.databox_watermark",
    (
        Column("name", "text", not_null=True),
        Column("loaded_at", "timestamptz"),  # newest raw loaded_at the marts reflect
        Column("refreshed_at", "timestamptz", not_null=True),  # when it last advanced
        Column("first_date", "text"),  # the range restated last (ISO dates)
        Column("last_date", "text"),
        # The project's files, lexicon and SQLMesh version the marts were built with.
        Column("project_sha256", "text"),
    ),
    primary_key=("name",),
)
WATERMARK_NAME = "telegram_marts"

MESSAGES = "raw.telegram_messages"
IMAGE_TABLES = ("raw.image_enrichment", "raw.image_detections")
_UTC_DATE = "CAST(m.date AT TIME ZONE 'UTC' AS DATE)"
#: SQLMesh's environments table, in the project's state schema (telegram/config.py).
_ENVIRONMENTS = "sqlmesh_telegram._environments"


@dataclass(frozen=True)
class TelegramRefresh:
    #: UTC message dates whose raw rows changed since the previous refresh.
    changed_dates: tuple[date, ...]
    #: The range restated (inclusive); None when nothing changed.
    start: date | None
    end: date | None
    watermark_before: datetime | None
    watermark_after: datetime | None
    summary: PlanSummary = field(default_factory=PlanSummary)

    #: Nothing to do: no raw row changed and neither did the project (SQLMesh not run).
    skipped: bool = False

    @property
    def restated(self) -> bool:
        return self.start is not None


def project_fingerprint() -> str:
    """sha256 of what the marts are a function of besides the raw rows: every file of the
    project (models, audits, macros, config, stopwords), the product lexicon in use and
    the SQLMesh version. Equal fingerprint and no changed raw row: nothing to rebuild."""
    from importlib.metadata import version

    from databox.transform.telegram.terms import lexicon_path

    # Absolute paths (relative to the root), as before: the digests stored so far stay valid.
    return files_digest(
        f"sqlmesh {version('sqlmesh')}\n", TELEGRAM_PROJECT_DIR, [lexicon_path()], root=Path("/")
    )


def _read_changes(session: Session, since: datetime | None, *, full: bool) -> tuple[list, Any]:
    """(changed message dates, newest loaded_at over the raw tables)."""
    if not session.table_exists(MESSAGES):
        return [], None
    where = "" if full or since is None else "WHERE {alias}.loaded_at > %s"
    params: list = [] if not where else [since]
    queries = [f"SELECT DISTINCT {_UTC_DATE} AS d FROM {MESSAGES} AS m {where.format(alias='m')}"]
    newest = [f"SELECT MAX(loaded_at) AS t FROM {MESSAGES}"]
    for table in IMAGE_TABLES:
        if not session.table_exists(table):
            continue
        queries.append(
            f"SELECT DISTINCT {_UTC_DATE} AS d FROM {table} AS i JOIN {MESSAGES} AS m "
            f"ON m.channel = i.channel AND m.message_id = i.message_id {where.format(alias='i')}"
        )
        newest.append(f"SELECT MAX(loaded_at) AS t FROM {table}")
    dates = session.fetchall(
        " UNION ".join(queries) + " ORDER BY 1", params * (len(queries) if params else 0)
    )
    (top,) = session.fetchone(f"SELECT MAX(t) FROM ({' UNION ALL '.join(newest)}) AS n") or (None,)
    return [_as_date(d) for (d,) in dates if d is not None], top


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _built(session: Session) -> bool:
    """Whether the project has a prod environment: on a first build the plan computes
    every day from the models' start anyway, and a restatement would only repeat it."""
    return has_prod_environment(session, _ENVIRONMENTS)


def read_watermark(session: Session) -> datetime | None:
    return _watermark_row(session)[0]


def _watermark_row(session: Session) -> tuple[datetime | None, str | None]:
    """(loaded_at, project_sha256) of the last successful refresh."""
    if not session.table_exists(WATERMARK.name):
        return None, None
    columns = session.column_names(WATERMARK.name)
    sha = "project_sha256" if "project_sha256" in columns else "NULL"
    row = session.fetchone(
        f"SELECT loaded_at, {sha} FROM {WATERMARK.name} WHERE name = %s", (WATERMARK_NAME,)
    )
    return (row[0], row[1]) if row else (None, None)


def refresh_telegram_marts(
    database_url: str,
    *,
    runner: SqlMeshRunner | None = None,
    full: bool = False,
    select_models: Collection[str] | None = None,
    advance_watermark: bool = True,
    shared_runner: bool = False,
) -> TelegramRefresh:
    """Restate the message dates changed since the last refresh (see module doc).

    ``select_models`` (SQLMesh selectors, default all) and ``advance_watermark=False``
    split one refresh into steps: the Dagster assets build the staging models, check
    them, then build the marts with the watermark advanced; both steps see the same
    changed days, since the watermark moves only after the last; a step computes its
    own models, not their upstream ones again. ``shared_runner``: the
    process's runner (``databox.transform.shared_runner``), kept open for the next step.

    No raw row changed since the last refresh and the project is the one it built
    (``project_fingerprint``): SQLMesh is not even imported, the marts are already what
    a plan would make them (``skipped``)."""
    warehouse = connect(database_url)
    fingerprint = project_fingerprint()
    with warehouse.session() as session:  # released before the runner takes the lock
        before, built_with = _watermark_row(session)
        changed, newest = _read_changes(session, before, full=full)
        built = _built(session)
    if built and not full and not changed and built_with == fingerprint:
        return TelegramRefresh((), None, None, before, before, PlanSummary(), skipped=True)
    from databox.transform.shared_runner import runner_for

    runner, own_runner = runner_for(database_url, TELEGRAM_PROJECT_DIR, runner, shared_runner)
    start = end = None
    try:
        if changed:
            start, end = changed[0], changed[-1]
            # Today is the partial interval the run step computes anyway; SQLMesh
            # restates complete days only. A first build computes every day itself.
            last_complete = datetime.now(timezone.utc).date() - timedelta(days=1)
            if built and start <= last_complete:
                # The restatement rebuilds the FULL models too; the run step is only
                # needed for today's partial day.
                summary = runner.plan_and_apply(
                    start=start,
                    end=min(end, last_complete),
                    select_models=select_models,
                    refresh=end > last_complete,
                    upstream=False,
                )
            else:
                summary = runner.plan_and_apply(select_models=select_models, upstream=False)
        else:
            summary = runner.plan_and_apply(select_models=select_models, upstream=False)
    finally:
        if own_runner:
            runner.close()
    after = newest if newest is not None else before
    if not advance_watermark or (after == before and not changed and built_with == fingerprint):
        # Nothing new: leave the watermark row as it is (a no-op refresh writes nothing).
        return TelegramRefresh((), None, None, before, after, summary)
    with warehouse.transaction() as tx:
        tx.ensure_tables(WATERMARK)
        tx.bulk_upsert(
            WATERMARK.name,
            WATERMARK.column_names,
            [
                (
                    WATERMARK_NAME,
                    after,
                    datetime.now(timezone.utc),
                    start.isoformat() if start else None,
                    end.isoformat() if end else None,
                    fingerprint,
                )
            ],
            WATERMARK.primary_key,
        )
    return TelegramRefresh(tuple(changed), start, end, before, after, summary)
