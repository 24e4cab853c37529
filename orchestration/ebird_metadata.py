"""Materialisation metadata of the eBird assets: what the tables hold, readable in the UI.

dagster-dlt's events carry a ``jobs`` entry, the raw JSON of dlt's load jobs (file
paths, sizes, timings) that nobody reads in the UI; it is replaced by the table's row
count (``dagster/row_count``, the key Dagster's UI shows on the asset and plots) and a
few rows as a markdown table. The counts are read from the warehouse after the load.
"""

from __future__ import annotations

import dagster as dg

from databox.ebird.tables import preview, row_count
from databox.warehouse.base import Warehouse
from orchestration.telegram_shared import markdown_table

#: dagster-dlt metadata dropped from the UI (see the module docstring).
DROPPED_DLT_KEYS = ("jobs",)
ROW_COUNT = "dagster/row_count"


def table_metadata(wh: Warehouse, table: str, obs_date: str | None = None) -> dict:
    """``dagster/row_count`` and a ``preview`` of ``schema.table`` (of one obs_date: a
    historic partition); nothing for a table that does not exist (yet)."""
    count = row_count(wh, table, obs_date=obs_date)
    if count is None:
        return {}
    metadata: dict = {ROW_COUNT: dg.MetadataValue.int(count)}
    columns, rows = preview(wh, table, obs_date=obs_date)
    if rows:
        metadata["preview"] = dg.MetadataValue.md(markdown_table(rows, columns))
    return metadata


def table_of(key: dg.AssetKey) -> str:
    """``raw_ebird/taxonomy`` → ``raw_ebird.taxonomy`` (keys are schema/table)."""
    return ".".join(key.path)


def with_table_metadata(event, wh: Warehouse, obs_date: str | None = None):
    """A dagster-dlt event (MaterializeResult or AssetMaterialization) with ``jobs``
    replaced by the table's row count and preview."""
    metadata = {k: v for k, v in (event.metadata or {}).items() if k not in DROPPED_DLT_KEYS}
    metadata.update(table_metadata(wh, table_of(event.asset_key), obs_date=obs_date))
    if isinstance(event, dg.AssetMaterialization):
        return event.with_metadata(metadata)
    return event._replace(metadata=metadata)
