"""Skip the eBird SQLMesh steps when neither the raw tables nor the project changed.

A SQLMesh plan-and-run on the eBird project costs seconds even when it computes
nothing new (state reads, FULL models rebuilt from identical inputs, audits), while
the direct SQL of all ten models costs ~0.2 s. ``refresh_ebird_models`` first compares
a digest of the raw tables and of the project with the one recorded after the last
successful build, and only runs SQLMesh when they differ::

    result = refresh_ebird_models("duckdb:///data/warehouse.duckdb")
    result.skipped             # True: SQLMesh not run (not even imported)
    result.summary             # the PlanSummary when it ran

The raw digest, per raw table the models read (``ebird/dag.json``): absent, or
``count(*)`` and the sum of a hash of every *whole row* (DuckDB ``hash(row)``,
PostgreSQL ``hashtextextended(row::text, 0)``). One scan per table, no sort, order
independent, so it costs milliseconds on both engines; any insert, delete or update
of any column changes it (up to a 64-bit hash collision). Why not dlt's own markers:
``_dlt_loads`` / ``max(_dlt_load_id)`` miss rows edited or deleted outside dlt, and
dlt keeps no per-table content hash (its schema ``version_hash`` covers columns, not
rows). Why whole rows, ``_dlt_load_id`` included: the staging models *read* it (the
copy loaded last wins the dedupe, and each staging row carries its ``dlt_load_id``),
so a reload of identical business data does change staging's output (the kept copy's
load id, and which endpoint's copy is kept). Skipping then would leave staging
different from what SQLMesh would build; this module never does that.

The project digest: sha256 of the eBird project's files, the shared SQLMesh config
and macros, and the SQLMesh and DuckDB versions (the DuckDB row hash could change).

The watermark row lives in ``sqlmesh.databox_watermark`` (``name`` = 'ebird_models'),
beside SQLMesh's own state: a warehouse restored or replaced brings its watermark
along. It is written only after SQLMesh succeeded, in its own transaction right
after the run (SQLMesh commits its own transactions, so one transaction over both is
not possible; a crash in between leaves the old watermark: one needless run, never a
wrong skip). The digest recorded is the one read *before* the run, so rows loaded
during a run are picked up by the next one.

Some raw tables changed, the project did not: SQLMesh runs only the selected models
downstream of a changed table (per-table digests, ``dag.json``); the others' inputs
are those of the last build, so their rows already are what a run would make them.

Two steps (the Dagster assets: staging, then marts): the first call passes
``advance_watermark=False`` and records its pre-run digest as *pending*; the last
advances the watermark to that pending digest (what staging, and so the marts, were
built from). A restatement (``start``/``end``) always runs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from databox.transform.project_state import files_digest, has_prod_environment
from databox.transform.runner import EBIRD_PROJECT_DIR, PlanSummary, SqlMeshRunner, TimeLike
from databox.warehouse import Column, Session, Table, connect

WATERMARK = Table(
    "sqlmesh.databox_watermark",
    (
        Column("name", "text", not_null=True),
        Column("raw_digest", "text"),  # the raw tables the models were last built from
        Column("project_sha256", "text"),  # ... and the project they were built with
        Column("pending_digest", "text"),  # a first step's pre-run digest (see doc)
        Column("pending_project_sha256", "text"),
        Column("refreshed_at", "timestamptz", not_null=True),
    ),
    primary_key=("name",),
)
WATERMARK_NAME = "ebird_models"
_ENVIRONMENTS = "sqlmesh._environments"  # SQLMesh's state (STATE_SCHEMA) for eBird
_TRANSFORM_DIR = Path(__file__).resolve().parent
#: Files outside the project directory that shape what it builds.
_SHARED_FILES = ("sqlmesh_config.py", "raw_macros.py")


@dataclass(frozen=True)
class EbirdRefresh:
    #: SQLMesh was not run: raw tables and project are those of the last build.
    skipped: bool
    raw_digest: str
    summary: PlanSummary = field(default_factory=PlanSummary)
    #: The selection SQLMesh ran (narrowed to what reads a changed raw table; None: all
    #: models; empty: none needed a run).
    models_run: list[str] | None = None


def project_fingerprint() -> str:
    """sha256 of what the models are a function of besides the raw rows."""
    return files_digest(
        f"sqlmesh {version('sqlmesh')} duckdb {version('duckdb')}\n",
        EBIRD_PROJECT_DIR,
        (_TRANSFORM_DIR / name for name in _SHARED_FILES),
        root=_TRANSFORM_DIR,
    )


def raw_tables() -> list[str]:
    """The raw tables the eBird models read, from the committed model graph."""
    from databox.transform.dag import load_dag

    dag = load_dag("ebird")
    return sorted({u for ups in dag.deps.values() for u in ups if u not in dag.deps})


def raw_digest(session: Session, tables: Collection[str] | None = None) -> str:
    """``table:count:hash-sum`` per raw table (``table:absent`` when missing), joined."""
    row_hash = (
        "hash(databox_row__)"
        if session.dialect == "duckdb"
        else "hashtextextended(databox_row__::text, 0)::numeric"
    )
    parts = []
    for table in tables or raw_tables():
        if not session.table_exists(table):
            parts.append(f"{table}:absent")
            continue
        count, total = session.fetchone(
            f"SELECT count(*), sum({row_hash}) FROM {table} AS databox_row__"
        )
        parts.append(f"{table}:{count}:{total or 0}")
    return ";".join(parts)


def _parts(digest: str | None) -> dict[str, str]:
    """``{table: "count:hash-sum" | "absent"}`` of a ``raw_digest``."""
    return dict(part.split(":", 1) for part in digest.split(";")) if digest else {}


def _narrowed(selection: Collection[str] | None, before: str, now: str) -> list[str] | None:
    """The selected models downstream of a raw table whose digest changed, in DAG terms;
    None when the selection is not plain model names (a SQLMesh pattern: run as given).

    What SQLMesh's run would do to the others buys nothing: a FULL model rebuilt, a
    view recreated, an incremental model's lookback recomputed, each with its audits,
    all from the same inputs. Their intervals stay missing and are computed by the next
    run that selects them (SQLMesh computes every missing interval, however old)."""
    from databox.transform.dag import load_dag

    deps = load_dag("ebird").deps
    wanted = set(selection) if selection else set(deps)
    if not wanted <= set(deps):
        return None
    old, new = _parts(before), _parts(now)
    affected = frontier = {t for t in old.keys() | new.keys() if old.get(t) != new.get(t)}
    while frontier:
        frontier = {m for m, ups in deps.items() if frontier & set(ups)} - affected
        affected = affected | frontier
    return sorted(wanted & affected)


def _read_row(session: Session) -> dict | None:
    """The watermark row ({} when none yet); None when the table does not exist."""
    if not session.table_exists(WATERMARK.name):
        return None
    rows = session.query(f"SELECT * FROM {WATERMARK.name} WHERE name = %s", (WATERMARK_NAME,))
    return rows[0] if rows else {}


def refresh_ebird_models(
    database_url: str,
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    select_models: Collection[str] | None = None,
    advance_watermark: bool = True,
    runner: SqlMeshRunner | None = None,
    shared_runner: bool = False,
) -> EbirdRefresh:
    """``runner.plan_and_apply(start, end, select_models)`` unless nothing changed;
    with unchanged models, only for the selected models downstream of a changed raw
    table (``_narrowed``).

    ``advance_watermark=False`` for a step another call completes (see module doc); the
    steps together must cover every model. ``runner``: the runner to use; else
    ``shared_runner`` picks the process's (``databox.transform.shared_runner``), else a
    new one, closed afterwards."""
    fingerprint = project_fingerprint()
    warehouse = connect(database_url)
    with warehouse.session() as session:  # released before SQLMesh takes the lock
        found = _read_row(session)
        digest = raw_digest(session)
        built = has_prod_environment(session, _ENVIRONMENTS)
    row = found or {}
    restate = start is not None or end is not None
    unchanged = row.get("raw_digest") == digest and row.get("project_sha256") == fingerprint
    if built and unchanged and not restate:
        return EbirdRefresh(skipped=True, raw_digest=digest)
    selection = list(select_models) if select_models else None
    if built and row.get("raw_digest") and row.get("project_sha256") == fingerprint and not restate:
        # Models unchanged, some raw tables changed: only what reads them needs a run.
        narrowed = _narrowed(selection, row["raw_digest"], digest)
        selection = selection if narrowed is None else narrowed
    if selection == []:  # nothing selected reads a changed table
        summary = PlanSummary()
    else:
        summary = _run(database_url, runner, shared_runner, start, end, selection)
    # A first step's digest when there was one: the models downstream of it were built
    # from what it built, whatever raw rows arrived since.
    if advance_watermark:
        done = (
            row.get("pending_digest") or digest,
            row.get("pending_project_sha256") or fingerprint,
        )
        if select_models is None:  # every model built now, from at least `digest`
            done = (digest, fingerprint)
        values = (*done, None, None)
    else:
        values = (row.get("raw_digest"), row.get("project_sha256"), digest, fingerprint)
    with warehouse.transaction() as tx:
        if found is None:  # its columns introspected only when it may be missing
            tx.ensure_tables(WATERMARK)
        tx.bulk_upsert(
            WATERMARK.name,
            WATERMARK.column_names,
            [(WATERMARK_NAME, *values, datetime.now(timezone.utc))],
            WATERMARK.primary_key,
        )
    return EbirdRefresh(skipped=False, raw_digest=digest, summary=summary, models_run=selection)


def _run(database_url, runner, shared_runner, start, end, selection) -> PlanSummary:
    from databox.transform.shared_runner import runner_for

    runner, own = runner_for(database_url, EBIRD_PROJECT_DIR, runner, shared_runner)
    try:
        # upstream=False: the steps run staging, then marts; the marts step need not
        # recompute staging (see SqlMeshRunner.plan_and_apply).
        return runner.plan_and_apply(start=start, end=end, select_models=selection, upstream=False)
    finally:
        if own:
            runner.close()


__all__ = [
    "EbirdRefresh",
    "project_fingerprint",
    "raw_digest",
    "raw_tables",
    "refresh_ebird_models",
]
