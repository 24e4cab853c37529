"""Run a SQLMesh project against our warehouse from Python (no Dagster, no CLI).

``SqlMeshRunner(database_url)`` wraps one ``sqlmesh.Context`` for the eBird project
(``transform/ebird``; ``project_dir=TELEGRAM_PROJECT_DIR`` for the Telegram one) on the
warehouse named by DATABASE_URL::

    runner = SqlMeshRunner("duckdb:///data/warehouse.duckdb")
    summary = runner.plan_and_apply()         # apply model changes, refresh from raw
    runner.plan_and_apply(start="2024-03-01", end="2024-03-03")  # + recompute those days
    runner.run_tests().ok                     # the project's SQLMesh unit tests
    runner.audit().failures                   # audits against the current data
    runner.model_dependencies()               # {model: {upstream models/raw tables}}
    runner.table_for("marts.dim_species")     # "marts.dim_species": what to query

Why it is built this way:

* ``sqlmesh.Context`` directly, not dagster-sqlmesh (which crashed on projects with
  external models) and never the CLI with "y" piped in. ``import sqlmesh`` costs about
  2.5 s, so it happens on first use, not when this module is imported.
* SQLMesh computes *missing intervals* only: a plan without model changes does nothing,
  even when dlt has loaded new raw rows since. ``plan_and_apply`` therefore has up to
  three steps (see its docstring): apply changes, restate an explicit date range, and a
  ``run`` that computes today's partial interval plus each incremental model's lookback
  and rebuilds the FULL models (the project sets ``allow_partials``, so "now" always
  leaves a new partial interval to compute).
* DuckDB admits one writer process per file and SQLMesh keeps its connections open.
  Every operation that touches the warehouse holds ``<db>.lock`` (the lock dlt loads and
  ``DuckDBWarehouse`` take) and closes every SQLMesh connection afterwards, so the file
  is free for other processes between operations; the cached Context reconnects
  lazily. Do not call the runner while this process itself holds ``<db>.lock``:
  ``flock`` would make it wait for itself.
* SQLMesh's Python API reports through a console that prints nothing by default, and
  a failed plan raises only "Plan application failed.". A capturing console keeps the
  per-model errors, so ``TransformError`` names the model and the audit.
* State in the warehouse (schema ``sqlmesh``), models written in DuckDB SQL and
  transpiled for PostgreSQL, the DuckDB 2.0 fix: see ``ebird/config.py``.
"""

from __future__ import annotations

import io
import logging
import os
import time
import warnings
from collections.abc import Collection, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from databox.config import redact_url, resolve_database_url, validate_database_url
from databox.errors import DataboxError
from databox.filelock import file_lock

if TYPE_CHECKING:
    from sqlmesh import Context
    from sqlmesh.core.plan import Plan

__all__ = [
    "EBIRD_PROJECT_DIR",
    "TELEGRAM_PROJECT_DIR",
    "AuditFailure",
    "AuditSummary",
    "PlanSummary",
    "SqlMeshRunner",
    "TestSummary",
    "TransformError",
]

EBIRD_PROJECT_DIR = Path(__file__).resolve().parent / "ebird"
#: The Telegram project: its own schemas and its own state schema (``telegram/config.py``).
TELEGRAM_PROJECT_DIR = Path(__file__).resolve().parent / "telegram"

TimeLike = str | date | datetime

log = logging.getLogger(__name__)


class TransformError(DataboxError):
    """A plan, run or audit failed; the message names the model (and audit) at fault."""


@dataclass(frozen=True)
class AuditFailure:
    model: str
    audit: str
    #: Rows the audit query returned (rows breaking the rule).
    count: int
    #: The audit's arguments as written in the model, e.g. "column := lat, min_v := -90".
    args: str = ""
    #: The audit's query (engine dialect), to look at the offending rows.
    sql: str = ""

    def __str__(self) -> str:
        return f"model {self.model}: audit {self.audit}({self.args}) failed: {self.count} row(s)"


@dataclass(frozen=True)
class AuditSummary:
    audits_run: int
    failures: tuple[AuditFailure, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class PlanSummary:
    """What ``plan_and_apply`` did."""

    #: Models added, modified or removed (applied by the change plan).
    changed_models: tuple[str, ...] = ()
    #: Models restated for the explicit ``[start, end]``.
    restated: tuple[str, ...] = ()
    #: Every model computed, by any step: ``{model: (first day, last day)}``.
    evaluated: dict[str, tuple[str, str]] = field(default_factory=dict)
    audits_passed: int = 0
    #: Seconds per step ("plan", "restate", "run") and "total".
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.timings.get("total", 0.0)

    def __str__(self) -> str:
        return (
            f"SQLMesh: {len(self.changed_models)} model(s) changed, "
            f"{len(self.restated)} restated, {len(self.evaluated)} computed, "
            f"{self.audits_passed} audit(s) passed ({self.seconds:.2f} s)"
        )


@dataclass(frozen=True)
class TestSummary:
    __test__ = False  # not a pytest test class, whatever its name
    tests_run: int
    #: (test name, message) for each failing or erroring test.
    failures: tuple[tuple[str, str], ...] = ()
    #: unittest's text report (what the SQLMesh CLI would print).
    report: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures


def _quiet_sqlmesh() -> None:
    """No analytics host is reachable here; SQLMesh would look it up on first use.
    ``setdefault``: an explicit setting wins."""
    os.environ.setdefault("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "1")


def _config_builder(project_dir: Path) -> Any:
    """The ``build_config`` of the project's own ``config.py`` for a project of this
    package (``transform/<name>``); any other directory (e.g. a test's copy of the
    eBird project) gets the eBird configuration, as before there were two projects."""
    import importlib

    here = Path(__file__).resolve().parent
    name = "ebird"
    if project_dir.resolve().parent == here and (project_dir / "config.py").is_file():
        name = project_dir.name
    return importlib.import_module(f"databox.transform.{name}.config").build_config


def _short_name(fqn: str) -> str:
    """``"warehouse"."marts"."x"`` → ``marts.x``: the catalog is the warehouse we are
    connected to (DuckDB: the file's stem; PostgreSQL: the database), so the name
    without it is what a query on that connection uses."""
    from sqlglot import exp

    table = exp.to_table(fqn)
    return ".".join(part for part in (table.db, table.name) if part)


def _day(ms: int) -> str:
    from sqlmesh.utils.date import to_ds

    return to_ds(ms)


def _capturing_console() -> Any:
    """A silent SQLMesh console that remembers what happened: the models that failed
    (with the audit or SQL error as ``__cause__``), the intervals it computed and the
    audits that passed. Warnings go to our log."""
    from sqlmesh.core.console import NoopConsole

    class CapturingConsole(NoopConsole):
        def __init__(self) -> None:
            self.reset()

        def reset(self) -> None:
            self.failed: list[BaseException] = []
            self.evaluated: dict[str, tuple[int, int]] = {}
            self.audits_passed = 0

        def log_failed_models(self, errors: list) -> None:
            self.failed.extend(errors)

        def update_snapshot_evaluation_progress(
            self,
            snapshot: Any,
            interval: Any,
            batch_idx: int,
            duration_ms: Any,
            *args: Any,
            **kw: Any,
        ) -> None:
            start, end = interval
            first, last = self.evaluated.get(snapshot.name, (start, end))
            self.evaluated[snapshot.name] = (min(first, start), max(last, end))
            passed = kw.get("num_audits_passed", args[0] if args else 0)
            self.audits_passed += passed or 0

        def log_warning(self, short_message: str, long_message: str | None = None) -> None:
            log.warning("SQLMesh: %s", long_message or short_message)

        def log_error(self, message: str) -> None:
            log.error("SQLMesh: %s", message)

    return CapturingConsole()


def _describe_failure(error: BaseException) -> str:
    """Lines for a failed model: the model, and each failed audit (with its arguments,
    row count and query) or the SQL error behind it."""
    from sqlmesh.utils.errors import AuditError

    cause = error.__cause__ or error
    node = getattr(error, "node", None)
    name = getattr(node, "name", None) or getattr(node, "snapshot_name", None)
    name = _short_name(name) if isinstance(name, str) else str(node or "?")
    audits = [cause] if isinstance(cause, AuditError) else getattr(cause, "errors", None)
    if audits and all(isinstance(a, AuditError) for a in audits):
        return "\n".join(
            f"model {name}: audit {a.audit_name}({_audit_args(a.audit_args)}) failed: "
            f"{a.count} row(s); query: {a.sql(pretty=False)}"
            for a in audits
        )
    return f"model {name}: {type(cause).__name__}: {cause}"


def _audit_args(args: dict[str, Any]) -> str:
    """``column := lat, min_v := -90, ...`` as written in the model."""
    return ", ".join(
        f"{key} := {value.sql() if hasattr(value, 'sql') else value}" for key, value in args.items()
    )


class SqlMeshRunner:
    """One SQLMesh project on one warehouse. Not thread-safe: one operation at a time."""

    def __init__(
        self,
        database_url: str,
        project_dir: Path | str = EBIRD_PROJECT_DIR,
        *,
        cache_dir: Path | str | None = None,
        lock_timeout: float = 600.0,
    ) -> None:
        from databox.ebird.pipeline import duckdb_lock_path

        self.database_url = resolve_database_url(validate_database_url(database_url))
        self.project_dir = Path(project_dir)
        self.cache_dir = cache_dir
        self.lock_timeout = lock_timeout
        #: ``<db>.lock`` for DuckDB (shared with dlt loads and the DuckDB adapter), else None.
        self.lock_path = duckdb_lock_path(self.database_url)
        self._context: Context | None = None
        #: Seconds the Context took to create (the sqlmesh import excluded).
        self.context_seconds: float | None = None

    def __repr__(self) -> str:
        return f"SqlMeshRunner({redact_url(self.database_url)!r}, {str(self.project_dir)!r})"

    # -- context and connections ---------------------------------------------------------

    def context(self) -> Context:
        """The project's Context, created on first call and cached. Creating it parses
        the models and opens no connection (the tests check that a DuckDB file stays
        free), so the model graph is available without the warehouse lock."""
        if self._context is None:
            _quiet_sqlmesh()
            from sqlmesh import Context

            build_config = _config_builder(self.project_dir)
            started = time.monotonic()
            with _quiet_warnings():
                context = Context(
                    paths=self.project_dir,
                    config=build_config(self.database_url, cache_dir=self.cache_dir),
                )
            self.context_seconds = time.monotonic() - started
            context.console = _capturing_console()
            self._context = context
        return self._context

    def close(self) -> None:
        """Close every connection SQLMesh opened; the Context stays usable (it reconnects)."""
        ctx = self._context
        if ctx is None:
            return
        ctx.close()  # the snapshot evaluator's adapters and the state sync's
        # The default adapter (and per-gateway ones) may hold a connection of their own
        # (PostgreSQL; for DuckDB they are all one shared adapter).
        adapters = [ctx._engine_adapter, *ctx.__dict__.get("engine_adapters", {}).values()]
        for adapter in adapters:
            if adapter is not None:
                adapter.close()
        # A fresh state sync next time: the cached one keeps snapshots in memory, which
        # another process (another runner) may change in the meantime.
        ctx._state_sync = None

    def __enter__(self) -> SqlMeshRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _session(self) -> Iterator[Context]:
        """The Context, with the warehouse lock held (DuckDB), SQLMesh errors turned into
        ``TransformError`` and every connection closed afterwards, whatever happens."""
        from sqlmesh.utils.errors import SQLMeshError

        ctx = self.context()
        ctx.console.reset()
        lock = file_lock(self.lock_path, self.lock_timeout) if self.lock_path else nullcontext()
        with lock, _quiet_warnings():
            try:
                ctx.refresh()  # picks up model files edited since the Context was made
                yield ctx
            except SQLMeshError as exc:
                lines = [str(exc), *map(_describe_failure, ctx.console.failed)]
                raise TransformError("\n".join(dict.fromkeys(lines))) from exc
            finally:
                self.close()

    # -- plan, run, tests, audits --------------------------------------------------------

    def plan_and_apply(
        self,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        select_models: Collection[str] | None = None,
        *,
        refresh: bool = True,
        upstream: bool = True,
    ) -> PlanSummary:
        """Bring prod up to date with the model files and the raw tables.

        1. ``Context.plan(auto_apply=True)``: apply model changes; new or changed models
           are built from the models' start (2020-01-01) up to yesterday. Skipped (with
           ``refresh``) when prod already holds every model's current version.
        2. Only when ``start`` or ``end`` is given: restate the selected models for
           ``[start, end]`` (days inclusive; ``end`` defaults to yesterday). Incremental
           models recompute exactly those days, FULL models rebuild. Needed for raw rows
           older than the lookback (30 days), e.g. after a historic backfill of a date.
        3. With ``refresh`` (default): ``Context.run(ignore_cron=True)``, which computes
           today's partial interval plus each incremental model's 30-day lookback, and
           rebuilds the FULL models: what picks up a day's dlt loads.

        ``select_models``: SQLMesh selectors (``"marts.dim_species"``, ``"+marts.*"``...);
        default all. ``upstream=False``: the run computes the selected models only, not
        their upstream models too (SQLMesh's default), for callers that have just run
        those in a step of their own (staging, then marts): with ``allow_partials``
        "now" has moved on, so the marts step recomputed every staging model again.
        Raises ``TransformError`` naming the model and the audit when a model
        fails to build or a (blocking) audit finds bad rows.
        """
        selection = list(select_models) if select_models else None
        timings: dict[str, float] = {}
        evaluated: dict[str, tuple[int, int]] = {}
        audits_passed = 0
        restated: tuple[str, ...] = ()
        started = time.monotonic()
        with self._session() as ctx:
            t0 = time.monotonic()
            changed: tuple[str, ...] = ()
            # A plan costs 1.5-3 s even when it finds nothing to do (most of it SQLMesh
            # listing the installed packages); comparing the model versions with prod's
            # costs ~0.1 s. Skipped only when the run below follows: it computes the
            # missing intervals a no-change plan would have backfilled.
            if not refresh or _models_changed(ctx):
                # No start/end here: SQLMesh refuses them on a prod plan without restatement.
                plan = ctx.plan(
                    select_models=_with_external(ctx, selection),
                    auto_apply=True,
                    no_prompts=True,
                    # Unit tests are run_tests()'s job, not every deployment's.
                    skip_tests=True,
                    no_diff=True,
                )
                timings["plan"] = time.monotonic() - t0
                changed = self._changed_models(plan)
            else:
                timings["plan_check"] = time.monotonic() - t0
            if start is not None or end is not None:
                # A separate plan: SQLMesh plans restatements from state only.
                t0 = time.monotonic()
                targets = self._selected(ctx, selection)
                ctx.plan(
                    start=start,
                    end=end,
                    restate_models=sorted(targets),
                    auto_apply=True,
                    no_prompts=True,
                    skip_tests=True,
                    no_diff=True,
                )
                timings["restate"] = time.monotonic() - t0
                restated = tuple(sorted(targets))
            if refresh:
                t0 = time.monotonic()
                status = ctx.run(
                    select_models=selection,
                    ignore_cron=True,
                    no_auto_upstream=bool(selection) and not upstream,
                )
                timings["run"] = time.monotonic() - t0
                if status.is_failure:
                    lines = ["sqlmesh run failed", *map(_describe_failure, ctx.console.failed)]
                    raise TransformError("\n".join(dict.fromkeys(lines)))
            evaluated = dict(ctx.console.evaluated)
            audits_passed = ctx.console.audits_passed
        timings["total"] = time.monotonic() - started
        summary = PlanSummary(
            changed_models=changed,
            restated=restated,
            evaluated={
                _short_name(name): (_day(first), _day(last - 1))
                for name, (first, last) in sorted(evaluated.items())
            },
            audits_passed=audits_passed,
            timings=timings,
        )
        log.info("%s", summary)
        return summary

    def run_tests(self, match_patterns: list[str] | None = None) -> TestSummary:
        """The project's SQLMesh unit tests (``tests/*.yaml``), on an in-memory DuckDB:
        no warehouse needed, so no lock."""
        ctx = self.context()
        ctx.refresh()
        stream = io.StringIO()
        with _quiet_warnings():
            result = ctx.test(match_patterns=match_patterns, stream=stream)
        failures = tuple(
            (str(test), message) for test, message in (*result.failures, *result.errors)
        )
        return TestSummary(tests_run=result.testsRun, failures=failures, report=stream.getvalue())

    def audit(
        self,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        models: Collection[str] | None = None,
        *,
        raise_on_failure: bool = False,
    ) -> AuditSummary:
        """Run the models' audits against the data now in the warehouse, without
        computing anything. The audited versions are those of the model files, so apply
        edits first. ``start``/``end`` bound the incremental models (default: the models'
        start to today). Failures are returned, or raised with ``raise_on_failure``."""
        started = time.monotonic()
        failures: list[AuditFailure] = []
        audits_run = 0
        with self._session() as ctx:
            default_start = ctx.config.model_defaults.start
            for name in models or self.model_names():
                snapshot = ctx.get_snapshot(name, raise_if_missing=True)
                # Context.audit only prints; this is its loop, keeping the results.
                for result in ctx.snapshot_evaluator.audit(
                    snapshot=snapshot,
                    start=start or default_start,
                    end=end or date.today(),
                    snapshots=ctx.snapshots,
                ):
                    if result.skipped:
                        continue
                    audits_run += 1
                    if result.count:
                        query = result.query
                        failures.append(
                            AuditFailure(
                                model=_short_name(snapshot.name),
                                audit=result.audit.name,
                                count=result.count,
                                args=_audit_args(result.audit_args),
                                sql=query.sql(dialect=ctx.engine_adapter.dialect) if query else "",
                            )
                        )
        summary = AuditSummary(audits_run, tuple(failures), time.monotonic() - started)
        if raise_on_failure and failures:
            raise TransformError("; ".join(map(str, failures)))
        return summary

    # -- the model graph (no database needed) -------------------------------------------

    def model_names(self) -> list[str]:
        """The project's models (not the raw tables), as ``schema.name``."""
        return sorted(self._models(external=False))

    def external_tables(self) -> list[str]:
        """The raw tables the models read (external_models.yaml), as ``schema.name``."""
        return sorted(self._models(external=True))

    def model_dependencies(self) -> dict[str, set[str]]:
        """``{model: {its direct upstreams}}``, upstreams being models or raw tables, all
        as ``schema.name``: enough to declare one Dagster asset per model."""
        return {
            name: {_short_name(upstream) for upstream in model.depends_on}
            for name, model in self._models(external=False).items()
        }

    def model_kinds(self) -> dict[str, str]:
        """``{model: kind}``, e.g. ``INCREMENTAL_BY_TIME_RANGE``, ``FULL``, ``VIEW``."""
        return {
            name: str(getattr(model.kind.name, "value", model.kind.name))
            for name, model in self._models(external=False).items()
        }

    def table_for(self, model: str, *, physical: bool = False) -> str:
        """What to query for ``model``: the prod view ``schema.name`` (SQLMesh's virtual
        layer, repointed on every apply). ``physical=True``: the versioned table behind
        it instead (read from SQLMesh's state, so it takes the lock)."""
        found = self.context().get_model(model)
        if found is None or found.kind.is_external:
            raise KeyError(f"no model {model!r} in {self.project_dir}; have {self.model_names()}")
        if not physical:
            return _short_name(found.fqn)
        with self._session() as ctx:
            return _short_name(ctx.table_name(found.name, prod=True))

    # -- helpers -------------------------------------------------------------------------

    def _models(self, *, external: bool) -> dict[str, Any]:
        return {
            _short_name(fqn): model
            for fqn, model in self.context().models.items()
            if model.kind.is_external == external
        }

    def _selected(self, ctx: Context, selection: list[str] | None) -> set[str]:
        """The models a selection names, as ``schema.name`` (all models by default)."""
        if not selection:
            return set(self.model_names())
        fqns = ctx._new_selector().expand_model_selections(selection)
        return {_short_name(fqn) for fqn in fqns if not ctx.models[fqn].kind.is_external}

    @staticmethod
    def _changed_models(plan: Plan) -> tuple[str, ...]:
        """Models added, removed or modified (external tables left out: SQLMesh counts
        them as "added" on the first plan)."""
        diff = plan.context_diff
        added = [s.name for s in diff.added if not diff.snapshots[s].is_external]
        removed = [s.name for s in diff.removed_snapshots]
        return tuple(sorted({_short_name(n) for n in (*added, *removed, *diff.modified_snapshots)}))


def _with_external(ctx: Context, selection: list[str] | None) -> list[str] | None:
    """A selection plus the raw tables (external models). A selected plan builds its
    snapshots from the selected models and prod's others only; external models are not
    in prod, so without them the selected models' snapshots lose their raw parents and
    never equal the project's own (``ctx.snapshots``): ``_models_changed`` then found a
    change on every call and each step paid a ~1 s plan for nothing."""
    if not selection:
        return selection
    return [*selection, *(fqn for fqn, m in ctx.models.items() if m.kind.is_external)]


def _models_changed(ctx: Context) -> bool:
    """Whether a plan has anything to apply: prod is missing, unfinished or expired, or
    its model versions (snapshot ids: fingerprints of each model's query, kind,
    audits... and its parents', raw tables' declared columns included) differ from the
    project's. Equal sets: the plan would be empty; a selected plan that left other
    models behind leaves those unequal, so the next call plans again."""
    from sqlmesh.core import constants as c
    from sqlmesh.core.model.kind import ModelKindName

    env = ctx.state_reader.get_environment(c.PROD)
    if env is None or env.expired or not env.finalized_ts:
        return True
    # External models (raw tables) are not always in prod's list: compare models only.
    prod = {s.snapshot_id for s in env.snapshots if s.kind_name != ModelKindName.EXTERNAL}
    # The project's snapshot ids computed locally: ``ctx.snapshots`` would also fetch
    # and deserialise every stored snapshot from state (~0.3 s a call) for ids alone.
    local = ctx._nodes_to_snapshots({**ctx._models, **ctx._standalone_audits})
    return prod != {s.snapshot_id for s in local.values() if not s.is_external}


@contextmanager
def _quiet_warnings() -> Iterator[None]:
    """SQLMesh evaluates ``accepted_range(min_v := -90)`` as the Python ``not -90 is
    None``, and Python warns "'is not' with a literal" on each evaluation: noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message='"is not" with a literal', category=SyntaxWarning)
        yield
