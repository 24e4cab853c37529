"""Data quality checks on the eBird warehouse tables, raw and modelled.

Each ``QualityCheck`` is one SQL statement answering a single number: how many rows
fail it (0 = pass). The registry ``CHECKS`` covers the raw tables dlt loads
(``raw_ebird.*``) and the keys of the SQLMesh models; ``run_quality_checks`` runs
them (all, or those of some tables, e.g. from a Dagster asset check per raw table via
``checks_for_table``) and ``write_results`` records one row per check per run in
``quality.data_quality_results`` so that a person can query the history::

    SELECT checked_at, check_name, failing_rows FROM quality.data_quality_results
    WHERE NOT passed AND NOT skipped ORDER BY checked_at DESC;

A check whose table (or one of its columns) does not exist is *skipped*, not passed:
``raw_ebird.historic_observations`` exists only after a historic load, and dlt adds a
column only once it has seen a value for it.

The SQL is plain enough for DuckDB and PostgreSQL alike (``%s`` placeholders, bound
from the reference time ``now`` so that a run is reproducible). No Dagster here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from databox.warehouse import Column, Table, Warehouse
from databox.warehouse.base import ident, quote

Severity = Literal["error", "warn"]

RAW_SCHEMA = "raw_ebird"
OBSERVATION_TABLES = (
    f"{RAW_SCHEMA}.recent_observations",
    f"{RAW_SCHEMA}.notable_observations",
    f"{RAW_SCHEMA}.historic_observations",
)
TAXONOMY_TABLE = f"{RAW_SCHEMA}.taxonomy"
HOTSPOTS_TABLE = f"{RAW_SCHEMA}.hotspots"
DLT_LOADS_TABLE = f"{RAW_SCHEMA}._dlt_loads"
STG_OBSERVATIONS = "staging.stg_ebird_observations"
STG_HISTORIC = "staging.stg_ebird_historic_observations"
FCT_DAILY_COUNTS = "marts.fct_daily_species_counts"
#: Where the daily counts must come from: the historic (per-date) observations.
DAILY_COUNT_SOURCE = "historic"

#: The newest successful load of recent observations must be at most this old.
FRESHNESS_HOURS = 36
#: obs_date may be up to this many days after today (UTC): time zones ahead of UTC.
FUTURE_TOLERANCE_DAYS = 1

RESULTS_TABLE = Table(
    name="quality.data_quality_results",
    columns=(
        Column("run_id", "text", not_null=True),
        Column("check_name", "text", not_null=True),
        Column("table_name", "text", not_null=True),
        Column("severity", "text", not_null=True),
        Column("passed", "boolean", not_null=True),
        Column("skipped", "boolean", not_null=True),
        Column("failing_rows", "bigint"),  # NULL when skipped or the check errored
        Column("description", "text"),
        Column("checked_at", "timestamptz", not_null=True),
    ),
    primary_key=("run_id", "check_name"),
)


@dataclass(frozen=True)
class QualityCheck:
    """One check: ``sql_failing_rows`` selects a single number, the failing rows.

    ``params`` builds the statement's bound parameters from the reference time ``now``
    (a timezone-aware datetime). ``requires`` are further tables the statement reads
    and ``columns`` the columns of ``table`` it needs: when any is missing the check
    is skipped.
    """

    name: str
    table: str
    description: str
    severity: Severity
    sql_failing_rows: str
    params: Callable[[datetime], Sequence[Any]] | None = None
    requires: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.severity not in ("error", "warn"):
            raise ValueError(f"check {self.name}: severity must be 'error' or 'warn'")
        for name in (self.table, *self.requires):
            ident(name)


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    table: str
    severity: Severity
    passed: bool
    failing_rows: int | None
    skipped: bool
    description: str
    checked_at: datetime
    #: Why the check was skipped, or the error its SQL raised (then passed is False).
    detail: str | None = field(default=None, compare=False)

    @property
    def failed(self) -> bool:
        return not self.passed and not self.skipped


# -- check builders ----------------------------------------------------------------------


def _short(table: str) -> str:
    return table.rpartition(".")[2]


def not_null_check(table: str, columns: Sequence[str], severity: Severity = "error"):
    cond = " OR ".join(f"{quote(c)} IS NULL" for c in columns)
    return QualityCheck(
        name=f"{_short(table)}__not_null__{'_'.join(columns)}",
        table=table,
        description=f"{', '.join(columns)} must not be NULL",
        severity=severity,
        sql_failing_rows=f"SELECT count(*) FROM {quote(table)} WHERE {cond}",
        columns=tuple(columns),
    )


def unique_check(table: str, columns: Sequence[str], severity: Severity = "error"):
    """Failing rows = the surplus copies (a key present 3 times fails 2 rows). Keys
    with a NULL part are left to the not-null check."""
    cols = ", ".join(quote(c) for c in columns)
    not_null = " AND ".join(f"{quote(c)} IS NOT NULL" for c in columns)
    return QualityCheck(
        name=f"{_short(table)}__unique__{'_'.join(columns)}",
        table=table,
        description=f"({', '.join(columns)}) must be unique (failing rows: surplus copies)",
        severity=severity,
        sql_failing_rows=(
            f"SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT count(*) AS n FROM {quote(table)} "
            f"WHERE {not_null} GROUP BY {cols} HAVING count(*) > 1) dup"
        ),
        columns=tuple(columns),
    )


def range_check(
    table: str,
    column: str,
    min_v: float | None = None,
    max_v: float | None = None,
    severity: Severity = "error",
):
    """NULLs pass: presence is the not-null check's business."""
    conds = []
    if min_v is not None:
        conds.append(f"{quote(column)} < {min_v!r}")
    if max_v is not None:
        conds.append(f"{quote(column)} > {max_v!r}")
    bounds = f"[{'' if min_v is None else min_v}, {'' if max_v is None else max_v}]"
    return QualityCheck(
        name=f"{_short(table)}__range__{column}",
        table=table,
        description=f"{column} must be within {bounds}",
        severity=severity,
        sql_failing_rows=f"SELECT count(*) FROM {quote(table)} WHERE {' OR '.join(conds)}",
        columns=(column,),
    )


def not_in_future_check(
    table: str,
    column: str = "obs_date",
    tolerance_days: int = FUTURE_TOLERANCE_DAYS,
    severity: Severity = "error",
):
    return QualityCheck(
        name=f"{_short(table)}__not_in_future__{column}",
        table=table,
        description=f"{column} must not be after today (UTC) + {tolerance_days} day(s)",
        severity=severity,
        sql_failing_rows=(
            f"SELECT count(*) FROM {quote(table)} WHERE {quote(column)} > CAST(%s AS DATE)"
        ),
        params=lambda now: ((now.astimezone(UTC).date() + timedelta(days=tolerance_days)),),
        columns=(column,),
    )


def freshness_check(
    table: str = OBSERVATION_TABLES[0],
    hours: float = FRESHNESS_HOURS,
    severity: Severity = "warn",
):
    """The newest successful dlt load (``_dlt_loads.status = 0``) that left rows in
    ``table`` was inserted within ``hours`` of now. Fails (1 row) when it is older or
    there is no such load at all."""
    return QualityCheck(
        name=f"{_short(table)}__freshness",
        table=table,
        description=f"the newest load of {table} must be at most {hours:g} hours old",
        severity=severity,
        sql_failing_rows=(
            "SELECT CASE WHEN max(l.inserted_at) >= %s THEN 0 ELSE 1 END "
            f"FROM {quote(DLT_LOADS_TABLE)} l WHERE l.status = 0 AND l.load_id IN "
            f"(SELECT DISTINCT {quote('_dlt_load_id')} FROM {quote(table)})"
        ),
        params=lambda now: (now - timedelta(hours=hours),),
        requires=(DLT_LOADS_TABLE,),
        columns=("_dlt_load_id",),
    )


def daily_count_source_check(severity: Severity = "error") -> QualityCheck:
    """Every daily count comes from the historic observations (``count_source``): the
    recent endpoint's latest sighting per species is not a daily count."""
    return QualityCheck(
        name=f"{_short(FCT_DAILY_COUNTS)}__count_source__{DAILY_COUNT_SOURCE}",
        table=FCT_DAILY_COUNTS,
        description=(
            f"count_source must be '{DAILY_COUNT_SOURCE}': daily counts come from the "
            "historic (per-date) observations only"
        ),
        severity=severity,
        sql_failing_rows=(
            f"SELECT count(*) FROM {quote(FCT_DAILY_COUNTS)} WHERE count_source IS NULL "
            f"OR count_source <> '{DAILY_COUNT_SOURCE}'"
        ),
        columns=("count_source",),
    )


def _observation_checks(table: str) -> list[QualityCheck]:
    return [
        not_null_check(table, ("sub_id", "species_code")),
        unique_check(table, ("sub_id", "species_code")),
        range_check(table, "lat", -90, 90),
        range_check(table, "lng", -180, 180),
        not_in_future_check(table, "obs_date"),
        range_check(table, "how_many", min_v=0),
    ]


def _build_registry() -> tuple[QualityCheck, ...]:
    checks: list[QualityCheck] = []
    for table in OBSERVATION_TABLES:
        checks += _observation_checks(table)
    checks += [
        not_null_check(TAXONOMY_TABLE, ("species_code",)),
        unique_check(TAXONOMY_TABLE, ("species_code",)),
        unique_check(HOTSPOTS_TABLE, ("loc_id",)),
        range_check(HOTSPOTS_TABLE, "lat", -90, 90),
        range_check(HOTSPOTS_TABLE, "lng", -180, 180),
        freshness_check(OBSERVATION_TABLES[0]),
        unique_check(FCT_DAILY_COUNTS, ("region_code", "obs_date", "species_code")),
        daily_count_source_check(),
        unique_check(STG_OBSERVATIONS, ("sub_id", "species_code")),
        unique_check(STG_HISTORIC, ("sub_id", "species_code")),
    ]
    names = [c.name for c in checks]
    assert len(names) == len(set(names)), "check names must be unique"
    return tuple(checks)


#: Every check, in run order.
CHECKS: tuple[QualityCheck, ...] = _build_registry()


def _table_matches(check_table: str, wanted: str) -> bool:
    """``raw_ebird.taxonomy`` or just ``taxonomy``."""
    return wanted == check_table or ("." not in wanted and wanted == _short(check_table))


def checks_for_table(table: str, checks: Iterable[QualityCheck] = CHECKS) -> list[QualityCheck]:
    """The checks of one table (``schema.table``, or the bare table name)."""
    return [c for c in checks if _table_matches(c.table, table)]


# -- running -------------------------------------------------------------------------------


def _catalog(session, schemas: set[str]) -> dict[str, set[str]]:
    """``schema.table`` → its column names, for tables and views of ``schemas``."""
    if not schemas:
        return {}
    marks = ", ".join(["%s"] * len(schemas))
    rows = session.fetchall(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        f"WHERE table_schema IN ({marks})",
        sorted(schemas),
    )
    out: dict[str, set[str]] = {}
    for schema, table, column in rows:
        out.setdefault(f"{schema}.{table}", set()).add(column)
    return out


def _why_skipped(check: QualityCheck, catalog: dict[str, set[str]]) -> str | None:
    for table in (check.table, *check.requires):
        if table not in catalog:
            return f"table {table} does not exist"
    missing = [c for c in check.columns if c not in catalog[check.table]]
    if missing:
        return f"column(s) {', '.join(missing)} of {check.table} do not exist"
    return None


def run_quality_checks(
    warehouse: Warehouse,
    *,
    tables: set[str] | None = None,
    now: datetime | None = None,
    checks: Iterable[QualityCheck] | None = None,
) -> list[CheckOutcome]:
    """Run the checks (``CHECKS`` by default) of ``tables`` (all when None; names as in
    ``checks_for_table``) in one session. ``now`` is the reference time for freshness
    and future dates (default: the current time) and every outcome's ``checked_at``.

    A check whose SQL raises is reported as failed with ``failing_rows`` None and the
    error in ``detail``; the other checks still run.
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    selected = list(CHECKS if checks is None else checks)
    if tables is not None:
        selected = [c for c in selected if any(_table_matches(c.table, t) for t in tables)]
    schemas = {t.partition(".")[0] for c in selected for t in (c.table, *c.requires)}
    outcomes: list[CheckOutcome] = []
    with warehouse.session() as session:
        catalog = _catalog(session, schemas)
        for check in selected:
            base = {
                "name": check.name,
                "table": check.table,
                "severity": check.severity,
                "description": check.description,
                "checked_at": now,
            }
            skip = _why_skipped(check, catalog)
            if skip:
                outcomes.append(
                    CheckOutcome(**base, passed=False, failing_rows=None, skipped=True, detail=skip)
                )
                continue
            params = check.params(now) if check.params else None
            try:
                row = session.fetchone(check.sql_failing_rows, params)
            except Exception as exc:  # reported, not raised: the other checks still run
                outcomes.append(
                    CheckOutcome(
                        **base,
                        passed=False,
                        failing_rows=None,
                        skipped=False,
                        detail=f"{type(exc).__name__}: {exc}",
                    )
                )
                continue
            failing = int(row[0] or 0) if row else 0
            outcomes.append(
                CheckOutcome(**base, passed=failing == 0, failing_rows=failing, skipped=False)
            )
    return outcomes


def summarise(outcomes: Iterable[CheckOutcome]) -> tuple[list[CheckOutcome], list[CheckOutcome]]:
    """(failed error-severity checks, failed warn-severity checks); skipped ones are in
    neither."""
    failed = [o for o in outcomes if o.failed]
    return (
        [o for o in failed if o.severity == "error"],
        [o for o in failed if o.severity == "warn"],
    )


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def write_results(
    warehouse: Warehouse, outcomes: Sequence[CheckOutcome], run_id: str | None = None
) -> int:
    """Record ``outcomes`` in ``quality.data_quality_results``, one row per check,
    keyed (run_id, check_name): writing the same run again updates its rows instead of
    adding new ones. A fresh run id is generated when None. Returns the number of rows
    inserted or changed."""
    run_id = run_id or new_run_id()
    rows = {}
    for o in outcomes:
        description = o.description if not o.detail else f"{o.description} ({o.detail})"
        rows[o.name] = (
            run_id,
            o.name,
            o.table,
            o.severity,
            o.passed,
            o.skipped,
            o.failing_rows,
            description,
            o.checked_at,
        )
    with warehouse.transaction() as tx:
        tx.ensure_tables(RESULTS_TABLE)
        if not rows:
            return 0
        inserted, updated = tx.bulk_upsert(
            RESULTS_TABLE.name,
            RESULTS_TABLE.column_names,
            list(rows.values()),
            RESULTS_TABLE.primary_key,
        )
    return inserted + updated
