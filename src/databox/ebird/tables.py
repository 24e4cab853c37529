"""Row counts and small previews of the eBird tables, for the assets' metadata.

Read from the warehouse after a load, so the figures are what the table holds (a merge
or a replace can leave fewer rows than the load brought), not what dlt normalised.
A table that does not exist yet (nothing loaded) has no count: ``None``, not an error.
"""

from __future__ import annotations

from typing import Any

from databox.warehouse.base import Warehouse, quote

#: The columns a person checks first, per raw table (the rest is in the warehouse).
OBSERVATION_PREVIEW = ("obs_date", "region_code", "com_name", "how_many", "loc_name")
PREVIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "recent_observations": OBSERVATION_PREVIEW,
    "notable_observations": OBSERVATION_PREVIEW,
    "historic_observations": OBSERVATION_PREVIEW,
    "taxonomy": ("species_code", "com_name", "sci_name", "family_com_name"),
    "hotspots": ("loc_id", "loc_name", "num_species_all_time", "latest_obs_dt"),
}
PREVIEW_ROWS = 5
#: Columns a preview never shows: dlt's bookkeeping.
HIDDEN_PREFIX = "_dlt_"


def _split(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    return schema, name


def _qualified(table: str) -> str:
    schema, name = _split(table)
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


def _columns(session, table: str) -> list[str]:
    schema, name = _split(table)
    rows = session.fetchall(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema or session.default_schema, name),
    )
    return [r[0] for r in rows]


def row_count(wh: Warehouse, table: str, obs_date: str | None = None) -> int | None:
    """Rows in ``schema.table`` (of one ``obs_date`` when given: a historic partition);
    None when the table (or its obs_date column) does not exist."""
    with wh.session() as s:
        columns = _columns(s, table)
        if not columns or (obs_date is not None and "obs_date" not in columns):
            return None
        sql = f"SELECT count(*) FROM {_qualified(table)}"
        if obs_date is None:
            return int(s.fetchone(sql)[0])
        # CAST: obs_date is a DATE on DuckDB and PostgreSQL alike; its text is ISO.
        return int(s.fetchone(sql + " WHERE CAST(obs_date AS VARCHAR) = %s", (obs_date,))[0])


def preview(
    wh: Warehouse, table: str, obs_date: str | None = None, limit: int = PREVIEW_ROWS
) -> tuple[list[str], list[dict[str, Any]]]:
    """A few rows of ``schema.table`` (of one obs_date when given), ordered so the same
    data always previews the same: (columns, rows); ([], []) when the table is missing."""
    with wh.session() as s:
        present = _columns(s, table)
        if not present:
            return [], []
        wanted = PREVIEW_COLUMNS.get(_split(table)[1])
        columns = [c for c in wanted if c in present] if wanted else []
        if not columns:  # a table with no curated columns: its first few of its own
            columns = [c for c in present if not c.startswith(HIDDEN_PREFIX)][:5]
        where, params = "", ()
        if obs_date is not None and "obs_date" in present:
            where, params = " WHERE CAST(obs_date AS VARCHAR) = %s", (obs_date,)
        listed = ", ".join(quote(c) for c in columns)
        order = ", ".join(str(i + 1) for i in range(len(columns)))
        rows = s.query(
            f"SELECT {listed} FROM {_qualified(table)}{where} ORDER BY {order} LIMIT {int(limit)}",
            params,
        )
    return columns, rows
