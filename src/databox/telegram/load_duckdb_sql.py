"""The DuckDB fast path: a group of lake files parsed and validated by DuckDB itself.

``read_json`` reads the group's files in one statement, each record as its minified
JSON text, and one ``SELECT`` turns them into rows plus a per-row ``ok`` flag. ``ok``
is a *sure-pass* test: it is true only where the Python rules (load_validate.py and
``TelegramMessage.from_record``) accept the record **and** would build exactly the
same row, byte for byte. Where it is false the whole file goes through the Python
path (load_files.py), which stays the one authority on what is wrong and how the
error reads. So the SQL may be stricter than the rules, never looser:

* the record must have exactly the 27 keys ``to_record`` writes, in that order (the
  minified text is compared with the concatenation of its fields), so there is no
  missing, extra or duplicate key and a JSON ``null`` means the key was present;
* its text must not hold a float, NaN/Infinity or a ``\\u`` escape: those are the
  places where DuckDB's JSON writer and orjson spell the same value differently, and
  the ``payload``/``raw`` columns must be the text the Python path stores;
* a file whose keys repeat (in itself or in another file of the group) falls back,
  because the newest-copy rules are applied file by file there;
* a file holding ``\\u0000`` falls back (it is rewritten without NUL there), as does a
  file DuckDB cannot read (not a JSON array, truncated: it is then a located error).

Everything else (types, ranges, allowed words, the file's channel, the time bounds)
is the same rule written in SQL. tests/test_load_raw.py compares both paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from databox.telegram.load_validate import FUTURE_SKEW, TELEGRAM_LAUNCH
from databox.telegram.message import (
    LINK_TYPES,
    MEDIA_KINDS,
    MESSAGE_FIELDS,
    MESSAGE_TYPES,
    PHOTO_STATUSES,
    SERVICE_ACTIONS,
)

BATCH = "_databox_batch"
FILES = "_databox_batch_files"
# ISO 8601 as format_ts writes it, with an explicit offset; a subset Python's
# fromisoformat and DuckDB's TIMESTAMPTZ cast read as the same instant.
_TS = r"^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{3}|\.\d{6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
# Where DuckDB's JSON text may differ from orjson's: numbers with a fraction or an
# exponent (1.5e16 → 15000000000000000.0), NaN/Infinity, and \u escapes (case).
_NOT_CANONICAL = r"[:,\[]-?(\d+[.eE]|NaN|Inf)"
_NESTED = ("raw", "media", "link_preview", "links", "photo_errors")


def _q(name: str) -> str:
    return f'j."{name}"'


def _words(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _starts(x: str, char: str) -> str:
    """JSON text ``x`` is a string/array/object: its first character says (a JSON
    function call per test cost several times the whole read)."""
    return f"starts_with(({x})::VARCHAR, '{char}')"


def _is_str(n: str) -> str:
    return _starts(_q(n), '"')


def _s(n: str) -> str:
    return f"({_q(n)} ->> '$')"


def _opt(n: str, test: str) -> str:
    return f"({_q(n)} IS NULL OR ({test}))"


def _int_at_least(x: str, lowest: int | None) -> str:
    """JSON text ``x`` is an integer that fits in 64 bits, at least ``lowest`` (None:
    any). The round trip through BIGINT refuses 1.5, 1e3, "5", true, -0."""
    cast = f"TRY_CAST(({x})::VARCHAR AS BIGINT)"
    bound = "" if lowest is None else f" AND {cast} >= {lowest}"
    return f"{cast}::VARCHAR = ({x})::VARCHAR{bound}"


def _int(n: str, lowest: int | None) -> str:
    return _int_at_least(_q(n), lowest)


def _choice(n: str, values: Sequence[str]) -> str:
    return _opt(n, f"{_is_str(n)} AND {_s(n)} IN ({_words(values)})")


def _ts(n: str) -> str:
    return (
        f"CASE WHEN {_is_str(n)} AND regexp_full_match({_s(n)}, '{_TS}') "
        f"THEN TRY_CAST({_s(n)} AS TIMESTAMPTZ) END"
    )


def _all(n: str, test: str) -> str:
    """``n`` is a JSON array whose every element ``x`` passes ``test``."""
    return (
        f"{_starts(_q(n), '[')} AND coalesce(list_bool_and(list_transform("
        f"from_json({_q(n)}, '[\"JSON\"]'), lambda x: coalesce({test}, false))), true)"
    )


def _count(x: str) -> str:
    """JSON ``x`` (SQL NULL: missing) null or a non-negative int64."""
    return f"(coalesce(({x})::VARCHAR, 'null') = 'null' OR ({_int_at_least(x, 0)}))"


def _rules(now: datetime) -> list[str]:
    lo = f"TIMESTAMPTZ '{TELEGRAM_LAUNCH.isoformat()}'"
    hi = f"TIMESTAMPTZ '{(now + FUTURE_SKEW).isoformat()}'"

    def in_time(col: str) -> str:
        return f"({col} BETWEEN {lo} AND {hi})"

    keys = ", ".join(f"'{n}'" for n in MESSAGE_FIELDS)
    link_type_is_str = _starts("x -> '$.type'", '"')
    link_label_is_str = _starts("x -> '$.label'", '"')
    mtype = f"coalesce({_s('message_type')}, 'post')"
    reactions = "j.raw -> '$.reactions'"
    reaction_count = _count("x -> '$.count'")
    reaction_counts = (
        f"NOT coalesce({_starts(reactions, '[')}, false) OR coalesce(list_bool_and("
        f"list_transform(from_json({reactions}, '[\"JSON\"]'), lambda x: "
        f"NOT coalesce({_starts('x', '{')}, false) OR {reaction_count})), true)"
    )
    # Only the nested values can hold a number the top-level rules do not type.
    nested = " || ".join(f"coalesce({_q(n)}::VARCHAR, '')" for n in _NESTED)
    return [
        # Exactly to_record's keys in its order: none missing, none extra, none twice.
        f"json_keys(b.payload) = [{keys}]",
        f"NOT regexp_matches({nested}, '{_NOT_CANONICAL}')",
        "NOT contains(b.payload, '\\u')",
        f"{_is_str('channel')} AND {_s('channel')} = f.channel",
        _int("message_id", 1),
        f"{in_time('t_date')}",
        _opt("edit_date", in_time("t_edit")),
        _opt("scraped_at", in_time("t_scraped")),
        *(_opt(n, _is_str(n)) for n in ("text", "post_author", "source", "new_title")),
        *(_opt(n, _int(n, 0)) for n in ("views", "forwards", "replies")),
        *(_opt(n, _int(n, 1)) for n in ("pinned_message_id", "reply_to_message_id")),
        _opt("grouped_id", _int("grouped_id", None)),
        _opt("has_media", "j.has_media::VARCHAR IN ('true', 'false')"),
        _opt("image_paths", _all("image_paths", _starts("x", '"'))),
        _opt("album_ids", _all("album_ids", _int_at_least("x", 1))),
        _opt("photo_errors", _all("photo_errors", _starts("x", "{"))),
        _opt(
            "links",
            _all(
                "links",
                f"{_starts('x', '{')} AND {link_type_is_str} AND "
                f"(x ->> '$.type') IN ({_words(LINK_TYPES)}) AND {link_label_is_str}",
            ),
        ),
        *(_opt(n, _starts(_q(n), "{")) for n in ("raw", "media", "link_preview")),
        _count("j.raw -> '$.reactions_total'"),
        f"({reaction_counts})",
        _choice("message_type", MESSAGE_TYPES),
        _choice("action", SERVICE_ACTIONS),
        f"(({mtype}) = 'service') = ({_q('action')} IS NOT NULL)",
        _choice("media_kind", MEDIA_KINDS),
        _choice("photo_status", PHOTO_STATUSES),
    ]


def _row_exprs() -> list[str]:
    """The ``ROW_COLUMNS`` of a record that passed, as the Python path builds them."""

    def js(n: str, empty: str | None) -> str:
        default = "NULL" if empty is None else f"'{empty}'::JSON"
        return f"coalesce({_q(n)}, {default}) AS {n}"

    def text(n: str) -> str:
        return f"{_s(n)} AS {n}"

    def bigint(n: str) -> str:
        return f"TRY_CAST({_q(n)} AS BIGINT) AS {n}"

    return [
        text("channel"),
        bigint("message_id"),
        't_date AS "date"',
        text("text"),
        bigint("views"),
        bigint("forwards"),
        bigint("replies"),
        "coalesce(TRY_CAST(j.has_media AS BOOLEAN), false) AS has_media",
        js("image_paths", "[]"),
        bigint("grouped_id"),
        "t_edit AS edit_date",
        text("post_author"),
        f"coalesce(nullif({_s('source')}, ''), 'unknown') AS source",
        "coalesce(t_scraped, f.file_time) AS scraped_at",
        js("raw", "{}"),
        f"coalesce({_s('message_type')}, 'post') AS message_type",
        text("action"),
        bigint("pinned_message_id"),
        text("new_title"),
        text("media_kind"),
        js("media", None),
        bigint("reply_to_message_id"),
        js("links", "[]"),
        js("link_preview", None),
        js("album_ids", "[]"),
        text("photo_status"),
        js("photo_errors", "[]"),
        "b.payload AS payload",
        "f.rel AS source_file",
    ]


def stage_sql(now: datetime, loaded_at: datetime) -> str:
    """A ``SELECT`` of the group's rows (``?``: the list of file paths), with
    ``filename`` and ``ok``; ``FILES`` maps each path to its rel, channel and mtime."""
    struct = ", ".join(f'"{n}": "JSON"' for n in MESSAGE_FIELDS)
    times = ", ".join(
        f"{_ts(n)} AS {alias}"
        for n, alias in (("date", "t_date"), ("edit_date", "t_edit"), ("scraped_at", "t_scraped"))
    )
    rules = " AND ".join(f"coalesce({r}, false)" for r in _rules(now))
    columns = f"{', '.join(_row_exprs())}, TIMESTAMPTZ '{loaded_at.isoformat()}' AS loaded_at"
    return (
        f"WITH b AS (SELECT filename, json AS payload, from_json(json, '{{{struct}}}') AS j "
        "FROM read_json(?, format = 'array', records = 'false', columns = {json: 'JSON'}, "
        "filename = true)), "
        f"t AS (SELECT b.*, {times} FROM b) "
        f"SELECT {columns}, b.filename, {rules} AS ok "
        f"FROM t b JOIN {FILES} f ON f.path = b.filename"
    )


#: Files of the group that must take the Python path: a record not sure to pass, or a
#: key seen twice in the group.
FALLBACK_SQL = (
    f"SELECT filename FROM {BATCH} GROUP BY filename HAVING NOT bool_and(ok) "
    f"UNION SELECT b.filename FROM {BATCH} b JOIN (SELECT channel, message_id FROM {BATCH} "
    "GROUP BY channel, message_id HAVING count(*) > 1) d "
    "ON b.channel = d.channel AND b.message_id = d.message_id"
)
