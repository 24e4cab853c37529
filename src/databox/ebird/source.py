"""The eBird dlt source: five resources, one table each (in dlt's snake_case names).

| resource / table | endpoint | key | write |
|---|---|---|---|
| recent_observations | data/obs/{r}/recent?back= | (subId, speciesCode) | merge |
| notable_observations | data/obs/{r}/recent/notable?detail=full | (subId, speciesCode) | merge |
| historic_observations | data/obs/{r}/historic/{y}/{m}/{d}?detail=full | (subId, speciesCode); merge key (region_code, obs_date) | merge (delete-insert) |
| taxonomy | ref/taxonomy/ebird?fmt=json | speciesCode | replace |
| hotspots | ref/hotspot/{r}?fmt=json | locId | merge |

A checklist (subId) holds one row per taxon, so (subId, speciesCode) is the natural
key of an observation. Observation rows also get ``region_code`` (the region asked
for), ``obs_date`` (DATE) and ``obs_at`` (TIMESTAMP without time zone: obsDt is the
observer's *local* time; NULL when no time was reported). ``obsDt`` itself is kept
verbatim as text: left to itself dlt would detect "2024-03-05 19:00" as an ISO
timestamp and store it as UTC ``timestamptz``, which it is not.

Every column the API may leave out is declared with its type, so the column exists
(NULL) even when a batch lacks it and types never drift with the data (e.g. ``lat``
as bigint because a batch only had whole numbers).

The taxonomy is *replaced* on every load, not merged: eBird's yearly taxonomy update
retires codes, and a merge never deletes, so retired codes stayed for ever. The
replace runs with dlt's ``insert-from-staging`` strategy, in one transaction (both
set on the destination in ``pipeline.dlt_destination``): the new rows are loaded into
``raw_ebird_staging.taxonomy`` first, then one SQL job deletes the old rows and
copies the new ones in, inside a transaction. A load that fails leaves the old
taxonomy whole; readers never see a half-empty table. (``truncate-and-insert``, dlt's
default, truncates the table when the load starts, in its own statement, before the
rows are inserted: a failed insert leaves the table empty.) A taxonomy request that
fails, or an empty answer, replaces nothing: the table stays as it was.

Data contract
-------------
Every resource has the schema contract ``{"tables": "evolve", "columns": "evolve",
"data_type": "freeze"}`` and a strict item validator built from its column hints:

* a field with another JSON type than its column (``howMany`` as the text ``"12"``,
  ``lat`` as a string, ``obsValid`` as 0/1) or a missing key field fails the run at
  extract, before anything is loaded. dlt would otherwise coerce ``"12"`` silently,
  or put a value it cannot coerce into a ``…__v_text`` variant column and leave the
  typed column NULL;
* dlt's own ``data_type: freeze`` catches the rest at normalize (a new field whose
  type changes between records would otherwise get a variant column);
* new fields the API adds are loaded as new columns (``columns: evolve``): they break
  nothing downstream, and the SQLMesh models select their columns by name.

Both raise dlt's ``DataValidationError``; ``schema_change_from`` turns it into
``EbirdSchemaChanged``, which names the table, column, API field and value.

Failures per region
-------------------
When a resource raises, dlt abandons the whole extract: the rows already yielded are
dropped with it (they sit in an uncommitted package that is never loaded). So a
resource never raises for one region's failure. It records the failure in the
``failures`` collector, goes on with the other regions, and the *caller* raises after
the load: ``failures.raise_if_any()`` (``run_ebird`` does this). Only a 403 (bad
token, every region would fail alike) raises at once.

Without a ``failures`` collector the source is strict: a resource with a failed
region raises after yielding the others, which fails the run before anything is
loaded. Loud, but the other regions' rows are lost, so pass a collector.
"""

from __future__ import annotations

import ast
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

import dlt
from dlt.common.schema.typing import TSchemaContract, TTableSchemaColumns
from dlt.extract.validation import PydanticValidator
from pydantic import BaseModel, ConfigDict, create_model

from databox.ebird.client import EbirdClient
from databox.ebird.errors import (
    MISSING,
    EbirdApiError,
    EbirdAuthError,
    EbirdExtractFailed,
    EbirdSchemaChanged,
    RegionFailure,
)
from databox.ebird.settings import DEFAULT_BASE_URL, validate_back_days, validate_regions

log = logging.getLogger(__name__)

OBSERVATION_KEY = ("subId", "speciesCode")
#: Rows of one historic call: a rerun of a date replaces that (region, date).
HISTORIC_MERGE_KEY = ("region_code", "obs_date")

RESOURCES = (
    "recent_observations",
    "notable_observations",
    "historic_observations",
    "taxonomy",
    "hotspots",
)


def _col(data_type: str, nullable: bool = True, **extra: Any) -> dict[str, Any]:
    return {"data_type": data_type, "nullable": nullable, **extra}


# Hints use the API's field names; dlt normalises them (howMany -> how_many).
OBSERVATION_COLUMNS: TTableSchemaColumns = {
    "speciesCode": _col("text", False),
    "comName": _col("text"),
    "sciName": _col("text"),
    "locId": _col("text"),
    "locName": _col("text"),
    "obsDt": _col("text"),  # verbatim "YYYY-MM-DD HH:MM" or "YYYY-MM-DD", local time
    "howMany": _col("bigint"),  # absent when only presence ("X") was noted
    "lat": _col("double"),
    "lng": _col("double"),
    "obsValid": _col("bool"),
    "obsReviewed": _col("bool"),
    "locationPrivate": _col("bool"),
    "subId": _col("text", False),
    "exoticCategory": _col("text"),  # only for exotic species: N, P or X
    # Added by the source:
    "region_code": _col("text", False),
    "obs_date": _col("date"),
    "obs_at": _col("timestamp", timezone=False),  # local time, NULL without a time
}
FULL_DETAIL_COLUMNS: TTableSchemaColumns = {
    "subnational2Code": _col("text"),  # absent where the country has no subnational2
    "subnational2Name": _col("text"),
    "subnational1Code": _col("text"),
    "subnational1Name": _col("text"),
    "countryCode": _col("text"),
    "countryName": _col("text"),
    "userDisplayName": _col("text"),
    "obsId": _col("text"),
    "checklistId": _col("text"),
    "presenceNoted": _col("bool"),
    "hasComments": _col("bool"),
    "firstName": _col("text"),
    "lastName": _col("text"),
    "hasRichMedia": _col("bool"),
}
TAXONOMY_COLUMNS: TTableSchemaColumns = {
    "speciesCode": _col("text", False),
    "sciName": _col("text"),
    "comName": _col("text"),
    "category": _col("text"),
    "taxonOrder": _col("double"),
    # Lists stay one JSON column each instead of three child tables.
    "bandingCodes": _col("json"),
    "comNameCodes": _col("json"),
    "sciNameCodes": _col("json"),
    "order": _col("text"),  # absent for e.g. "bird1"; a reserved word: quote it in SQL
    "familyCode": _col("text"),
    "familyComName": _col("text"),
    "familySciName": _col("text"),
    "reportAs": _col("text"),
    "extinct": _col("bool"),
    "extinctYear": _col("bigint"),
}
HOTSPOT_COLUMNS: TTableSchemaColumns = {
    "locId": _col("text", False),
    "locName": _col("text"),
    "countryCode": _col("text"),
    "subnational1Code": _col("text"),
    "subnational2Code": _col("text"),
    "lat": _col("double"),
    "lng": _col("double"),
    "latestObsDt": _col("text"),  # absent for a hotspot never birded
    "numSpeciesAllTime": _col("bigint"),
    "latest_obs_at": _col("timestamp", timezone=False),
}


# -- data contract -----------------------------------------------------------------------

#: New tables and columns may appear; a column's data type may not change.
SCHEMA_CONTRACT: TSchemaContract = {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}

#: The Python type a JSON value must already have for a column of each dlt type
#: (strict: no "12" for a bigint, no 1 for a bool; a whole number is a valid double).
_STRICT_TYPES: dict[str, Any] = {
    "text": str,
    "bigint": int,
    "double": float,
    "bool": bool,
    "json": list | dict,
    "date": date,
    "timestamp": datetime,
}


def contract_model(name: str, columns: TTableSchemaColumns) -> type[BaseModel]:
    """A strict pydantic model of ``columns`` (API field names): nullable columns are
    optional, the others required; unknown fields are allowed (they evolve)."""
    fields: dict[str, Any] = {}
    for column, hint in columns.items():
        py_type = _STRICT_TYPES[hint["data_type"]]
        if hint.get("nullable", True):
            fields[column] = (py_type | None, None)
        else:
            fields[column] = (py_type, ...)
    config = ConfigDict(strict=True, extra="allow")
    return create_model(name, __config__=config, **fields)


def _with_contract(resource: Any, columns: TTableSchemaColumns) -> Any:
    """Attach the strict validator (dlt's own ``PydanticValidator``: columns evolve,
    data types are frozen). The column hints stay the dict ones: they carry what a
    model cannot (``timezone=False``, JSON columns)."""
    model = contract_model(f"{resource.name}_contract", columns)
    resource.validator = PydanticValidator(model, "evolve", "freeze")
    return resource


#: Each table's column hints, by API field name.
_COLUMN_HINTS: dict[str, TTableSchemaColumns] = {
    "recent_observations": OBSERVATION_COLUMNS,
    "notable_observations": {**OBSERVATION_COLUMNS, **FULL_DETAIL_COLUMNS},
    "historic_observations": {**OBSERVATION_COLUMNS, **FULL_DETAIL_COLUMNS},
    "taxonomy": TAXONOMY_COLUMNS,
    "hotspots": HOTSPOT_COLUMNS,
}


def _api_field(table: str, column: str) -> str | None:
    """The API field behind a snake_case column (``how_many`` → ``howMany``)."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    naming = NamingConvention()
    for field_name in _COLUMN_HINTS.get(table, {}):
        if naming.normalize_identifier(field_name) == column:
            return field_name
    return None


def schema_change_from(exc: BaseException, dataset_name: str) -> EbirdSchemaChanged | None:
    """``EbirdSchemaChanged`` for the dlt ``DataValidationError`` in ``exc``'s chain
    (raised at extract by the strict validator, or at normalize by dlt's own
    ``data_type: freeze``), else None."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention
    from dlt.common.schema.exceptions import DataValidationError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, DataValidationError):
            break
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    else:
        return None
    err = current
    table = err.table_name
    item = err.data_item if isinstance(err.data_item, dict) else {}
    naming = NamingConvention()
    raw_column = str(err.column_name or "?")
    reason = None
    if raw_column.startswith("("):
        # The strict validator: loc like "('items', 3, 'howMany')" (an API field name).
        try:
            loc = ast.literal_eval(raw_column)
        except (ValueError, SyntaxError):
            loc = (raw_column,)
        field_name = str([p for p in loc if isinstance(p, str) and p != "items"][-1])
        column = naming.normalize_identifier(field_name)
        value = item.get(field_name, MISSING)
        reason = _pydantic_reason(err)
    else:
        # dlt's normalizer: the variant column it refused, e.g. "how_many__v_text".
        column, _, variant = raw_column.partition("__v_")
        field_name = _api_field(table, column) or column
        value = item.get(raw_column, item.get(column, MISSING))
        reason = f"dlt would have added the variant column {raw_column}" if variant else None
    hint = _COLUMN_HINTS.get(table, {}).get(field_name)
    expected = hint["data_type"] if hint else None
    if expected is None and isinstance(err.table_schema, dict):
        expected = err.table_schema.get("columns", {}).get(column, {}).get("data_type")
    return EbirdSchemaChanged(
        table=f"{dataset_name}.{table}",
        column=column,
        value=value,
        field=field_name,
        expected=expected,
        record=_record_id(item),
        reason=reason,
    )


def _pydantic_reason(err: Any) -> str | None:
    cause = err.__cause__
    try:
        errors = cause.errors()  # pydantic ValidationError
    except Exception:
        return None
    return str(errors[0]["msg"]) if errors else None


def _record_id(item: dict[str, Any]) -> str | None:
    keys = ("speciesCode", "subId", "locId", "species_code", "sub_id", "loc_id", "region_code")
    parts = [f"{k}={item[k]}" for k in keys if item.get(k) is not None]
    return ", ".join(parts) or None


class ExtractFailures:
    """Thread-safe record of the (resource, region) requests that failed for good."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RegionFailure] = []

    def add(self, resource: str, region: str | None, error: EbirdApiError) -> None:
        log.warning("eBird %s failed for %s: %s", resource, region or "-", error)
        with self._lock:
            self._items.append(RegionFailure(resource, region, error))

    @property
    def items(self) -> list[RegionFailure]:
        with self._lock:
            return list(self._items)

    @property
    def regions(self) -> list[str]:
        return list(dict.fromkeys(f.region for f in self.items if f.region))

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def raise_if_any(self, summary: Any = None) -> None:
        items = self.items
        if items:
            raise EbirdExtractFailed(items, summary)


def parse_obs_dt(value: Any) -> datetime | None:
    """eBird's local "YYYY-MM-DD HH:MM" → naive datetime; None for a bare date or junk."""
    if not isinstance(value, str) or len(value) < 16:
        return None
    try:
        return datetime.strptime(value[:16], "%Y-%m-%d %H:%M")
    except ValueError:
        return None


def _obs_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if isinstance(value, str) else None
    except ValueError:
        return None


def _observation_rows(
    items: list[dict[str, Any]], region: str, day: date | None = None
) -> list[dict[str, Any]]:
    for row in items:
        row["region_code"] = region
        row["obs_date"] = day or _obs_date(row.get("obsDt"))
        row["obs_at"] = parse_obs_dt(row.get("obsDt"))
    return items


@dlt.source(name="ebird", max_table_nesting=0)
def ebird_source(
    token: str | None,
    regions: Sequence[str] | str,
    *,
    back_days: int = 14,
    base_url: str = DEFAULT_BASE_URL,
    historic_date: date | None = None,
    historic_dates: Sequence[date] | None = None,
    client: EbirdClient | None = None,
    failures: ExtractFailures | None = None,
) -> Any:
    """eBird observations, taxonomy and hotspots for ``regions``.

    ``client`` (e.g. with other retry settings) replaces ``token``/``base_url``.
    ``historic_observations`` is only selected when ``historic_date`` (one date) or
    ``historic_dates`` (several, e.g. the last few days) is given; a daily partition
    run selects it alone: ``ebird_source(…, historic_date=d)
    .with_resources("historic_observations")``. Build a fresh source for each run
    (a dlt source is a one-shot iterator). See the module doc for ``failures``.

    ``token`` deliberately has no default: dlt injects configuration only into
    parameters with defaults, so the token never enters dlt's config resolution or
    its trace.
    """
    codes = validate_regions(regions, name="regions")
    back = validate_back_days(back_days, name="back_days")
    days = list(
        dict.fromkeys([*([historic_date] if historic_date else []), *(historic_dates or ())])
    )
    api = client or EbirdClient(token, base_url)
    strict = failures is None
    collected = failures if failures is not None else ExtractFailures()

    def per_region(
        resource: str, fetch: Callable[[str], list[dict[str, Any]]]
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each region's rows as one batch; record (not raise) a region's failure."""
        failed: list[RegionFailure] = []
        for region in codes:
            try:
                rows = fetch(region)
            except EbirdAuthError:
                raise  # the token is wrong for every region: stop the run now
            except EbirdApiError as exc:
                collected.add(resource, region, exc)
                failed.append(RegionFailure(resource, region, exc))
                continue
            if rows:
                yield rows
        if strict and failed:
            raise EbirdExtractFailed(failed)

    @dlt.resource(
        name="recent_observations",
        primary_key=OBSERVATION_KEY,
        write_disposition="merge",
        columns=_COLUMN_HINTS["recent_observations"],
        schema_contract=SCHEMA_CONTRACT,
    )
    def recent_observations() -> Iterator[list[dict[str, Any]]]:
        yield from per_region(
            "recent_observations",
            lambda r: _observation_rows(api.recent_observations(r, back=back), r),
        )

    @dlt.resource(
        name="notable_observations",
        primary_key=OBSERVATION_KEY,
        write_disposition="merge",
        columns=_COLUMN_HINTS["notable_observations"],
        schema_contract=SCHEMA_CONTRACT,
    )
    def notable_observations() -> Iterator[list[dict[str, Any]]]:
        yield from per_region(
            "notable_observations",
            lambda r: _observation_rows(api.notable_observations(r, back=back), r),
        )

    @dlt.resource(
        name="historic_observations",
        primary_key=OBSERVATION_KEY,
        # delete-insert with a merge key: the destination rows of each (region, date)
        # in the batch are deleted first, so a rerun of a date replaces that partition
        # (checklists the API no longer returns go too) instead of only upserting by
        # subId/species. A (region, date) that now returns no rows at all is left as is.
        merge_key=HISTORIC_MERGE_KEY,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        columns=_COLUMN_HINTS["historic_observations"],
        schema_contract=SCHEMA_CONTRACT,
        selected=bool(days),
    )
    def historic_observations() -> Iterator[list[dict[str, Any]]]:
        if not days:
            raise ValueError("historic_observations needs ebird_source(..., historic_date=date)")
        for day in days:
            yield from per_region(
                "historic_observations",
                lambda r, d=day: _observation_rows(api.historic_observations(r, d), r, d),
            )

    @dlt.resource(
        name="taxonomy",
        primary_key="speciesCode",
        # replace (insert-from-staging, see the module doc): the table is exactly what
        # the API serves now, so codes retired by eBird's taxonomy update disappear.
        # Declared "append" and switched to "replace" by the rows themselves
        # (``with_hints`` below): dlt truncates a table declared "replace" whose
        # resource yielded nothing, which would empty the taxonomy whenever its request
        # failed. Rows only ever load as a replace.
        write_disposition="append",
        columns=_COLUMN_HINTS["taxonomy"],
        schema_contract=SCHEMA_CONTRACT,
    )
    def taxonomy() -> Iterator[list[dict[str, Any]]]:
        # The whole taxonomy (~17k rows on the real API) each run: it is one request
        # and makes the table exact. Deselect it for frequent runs. A failed request
        # yields nothing; dlt then leaves the table as it was (no empty replace).
        try:
            rows = api.taxonomy()
        except EbirdAuthError:
            raise
        except EbirdApiError as exc:
            collected.add("taxonomy", None, exc)
            if strict:
                raise
            return
        if not rows:
            # Never replace the taxonomy with nothing: an empty answer is a fault.
            log.warning("eBird taxonomy: the API returned no rows; the table is left as is")
            return
        yield dlt.mark.with_hints(rows, dlt.mark.make_hints(write_disposition="replace"))

    @dlt.resource(
        name="hotspots",
        primary_key="locId",
        write_disposition="merge",
        columns=_COLUMN_HINTS["hotspots"],
        schema_contract=SCHEMA_CONTRACT,
    )
    def hotspots() -> Iterator[list[dict[str, Any]]]:
        def fetch(region: str) -> list[dict[str, Any]]:
            rows = api.hotspots(region)
            for row in rows:
                row["latest_obs_at"] = parse_obs_dt(row.get("latestObsDt"))
            return rows

        yield from per_region("hotspots", fetch)

    resources = (
        recent_observations,
        notable_observations,
        historic_observations,
        taxonomy,
        hotspots,
    )
    return tuple(_with_contract(r, _COLUMN_HINTS[r.name]) for r in resources)


__all__ = [
    "FULL_DETAIL_COLUMNS",
    "HOTSPOT_COLUMNS",
    "OBSERVATION_COLUMNS",
    "OBSERVATION_KEY",
    "RESOURCES",
    "SCHEMA_CONTRACT",
    "TAXONOMY_COLUMNS",
    "ExtractFailures",
    "contract_model",
    "ebird_source",
    "parse_obs_dt",
    "schema_change_from",
]
