"""Run the eBird source into the warehouse named by DATABASE_URL.

``make_pipeline`` maps our URLs to dlt destinations:

* ``duckdb:///path.duckdb`` → dlt's duckdb destination on that file (relative paths
  resolved against the project root, as everywhere else);
* ``postgresql://user@host:5432/db`` → dlt's postgres destination. dlt insists on a
  password even when the server trusts the connection, so a URL without one gets an
  empty password (or PGPASSWORD when set); libpq then sends none unless asked.

The dataset (``raw_ebird``) is a schema in both databases; merge loads and the
taxonomy's replace also use a ``raw_ebird_staging`` schema, as dlt does. Both
destinations get the replace strategy ``insert-from-staging``: rows land in the
staging table first and one transaction then swaps the content of the real table
(delete + insert … select), so a failed load leaves the old table whole.

``run_ebird`` runs dlt's three steps itself instead of ``pipeline.run`` so that the
DuckDB file lock (``<db>.lock``, the same lock the DuckDB adapter takes) is held for
the load step only, not while the API is being called: extract and normalize touch
only local files. Rows of regions that did arrive are loaded; the regions that
failed are then reported by raising ``EbirdExtractFailed``.

Recovery. dlt keeps a load package on disk until it is loaded, and a later run
normalizes and loads every pending package before its own. A package that cannot be
normalized or loaded (a record that breaks the data contract) would therefore fail
every later run with the same load id, even once the API is healthy again. So
``run_ebird``, like the Dagster path (dagster-dlt drops the pipeline's local state
before each run), never leaves such a package behind:

* a run whose extract or normalize step fails drops its pending packages
  (``Pipeline.abort_packages``, dlt's successor of ``drop_pending_packages``) before
  raising;
* a run first completes what an earlier run left pending (e.g. a package whose load
  timed out waiting for the warehouse lock, or hit a transient database error), and
  drops it when it cannot be completed, then goes on with its own extract. Dropping
  loses nothing that matters: the next extract fetches the same data again.

A data type change is raised as ``EbirdSchemaChanged`` (table, column, value), not as
dlt's wrapper.

Known dlt 1.31 quirk: even with RUNTIME__DLTHUB_TELEMETRY=false every pipeline step
builds a telemetry payload (nothing is sent), which creates ``.anonymous_id`` in dlt's
global directory: ``/var/dlt`` as root. No public setting moves that directory
(DLT_DATA_DIR moves only the pipelines), so that one 32-byte file still lands there.
"""

from __future__ import annotations

import copy
import getpass
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from databox.config import redact_url, resolve_database_url
from databox.ebird.errors import EbirdError, RegionFailure
from databox.ebird.settings import EbirdSettings, ebird_settings_from_env
from databox.errors import ConfigError
from databox.filelock import LockTimeout, file_lock

if TYPE_CHECKING:
    import dlt
    from dlt.extract.source import DltSource

    from databox.ebird.client import EbirdClient
    from databox.ebird.source import ExtractFailures

__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_PIPELINE",
    "EbirdLoadSummary",
    "dlt_destination",
    "duckdb_lock_path",
    "ebird_settings_from_env",
    "make_ebird_source",
    "make_pipeline",
    "run_ebird",
    "translate_dlt_error",
]

DEFAULT_DATASET = "raw_ebird"
DEFAULT_PIPELINE = "ebird"
#: dlt's replace strategy for both destinations: one transaction (see the module doc).
REPLACE_STRATEGY = "insert-from-staging"
#: Destination settings both warehouses get. ``supports_transactions``: dlt 1.31's
#: duckdb and postgres capabilities leave it unset, and dlt then runs its SQL jobs
#: (the replace's delete + insert, the merges) without a transaction when they hold
#: no DDL: on DuckDB each statement committed on its own (seen: a failing third
#: statement left the taxonomy replaced). True wraps every SQL job in one.
_DESTINATION_OPTIONS: dict[str, Any] = {
    "replace_strategy": REPLACE_STRATEGY,
    "supports_transactions": True,
}

log = logging.getLogger(__name__)


def _quiet_dlt() -> None:
    """These machines reach no telemetry host; dlt would otherwise try on every run.
    ``setdefault``: an explicit RUNTIME__DLTHUB_TELEMETRY wins."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def _duckdb_path(url: str) -> Path:
    # duckdb:///rel/path -> "rel/path"; duckdb:////abs/path -> "/abs/path"
    path = url[len("duckdb:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        raise ConfigError(f"DATABASE_URL {url!r}: a DuckDB warehouse needs a file path")
    return Path(path)


def duckdb_lock_path(database_url: str) -> Path | None:
    """``<db file>.lock`` for a DuckDB URL (what ``DuckDBWarehouse.lock_path`` is), else None."""
    url = resolve_database_url(database_url.strip())
    if urlsplit(url).scheme != "duckdb":
        return None
    path = _duckdb_path(url)
    return path.with_name(path.name + ".lock")


def _postgres_credentials(url: str) -> Any:
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    parts = urlsplit(url)
    # postgres:// and postgresql+psycopg:// are the same server to dlt (it uses psycopg2).
    creds = PostgresCredentials()
    creds.parse_native_representation(urlunsplit(parts._replace(scheme="postgresql")))
    if not creds.username:
        creds.username = os.environ.get("PGUSER") or getpass.getuser()  # libpq's default
    if creds.password is None:
        # dlt treats a missing password as unresolved config and refuses to connect, even
        # under trust auth (seen with dlt 1.31). "" satisfies it; libpq sends no password
        # unless the server asks for one.
        creds.password = os.environ.get("PGPASSWORD", "")
    return creds


def dlt_destination(database_url: str) -> Any:
    """The dlt destination for our DATABASE_URL. It touches no disk: the code location
    builds one when its definitions load; ``make_pipeline`` creates the DuckDB file's
    directory when a run needs it."""
    import dlt

    url = resolve_database_url(database_url.strip())
    scheme = urlsplit(url).scheme
    if scheme == "duckdb":
        path = _duckdb_path(url)
        # Parquet instead of dlt's default INSERT … VALUES files: measured on 17k
        # taxonomy rows (dlt 1.31, duckdb 2.0) a load took 8-11 s with insert_values and
        # 1.7-2.6 s with parquet. Set as a capability, so dagster-dlt runs get it too.
        return dlt.destinations.duckdb(
            credentials=str(path), preferred_loader_file_format="parquet", **_DESTINATION_OPTIONS
        )
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return dlt.destinations.postgres(
            credentials=_postgres_credentials(url), **_DESTINATION_OPTIONS
        )
    raise ConfigError(
        f"DATABASE_URL {redact_url(url)!r}: unsupported scheme {scheme!r}; "
        "use duckdb:///path.duckdb or postgresql://user@host:5432/dbname"
    )


def make_pipeline(
    database_url: str,
    *,
    pipelines_dir: Path | str,
    dataset_name: str = DEFAULT_DATASET,
    pipeline_name: str = DEFAULT_PIPELINE,
) -> dlt.Pipeline:
    """A dlt pipeline writing to ``database_url``. ``pipelines_dir`` is explicit: left
    to itself dlt keeps its state under ~/.dlt, or /var/dlt when running as root."""
    _quiet_dlt()
    import dlt

    destination = dlt_destination(database_url)
    url = resolve_database_url(database_url.strip())
    if urlsplit(url).scheme == "duckdb":
        _duckdb_path(url).parent.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination,
        dataset_name=dataset_name,
        pipelines_dir=str(pipelines_dir),
    )


def make_ebird_source(
    settings: EbirdSettings,
    *,
    historic_date: date | None = None,
    historic_dates: Sequence[date] | None = None,
    failures: ExtractFailures | None = None,
    client: EbirdClient | None = None,
) -> DltSource:
    """A fresh ``ebird_source`` for ``settings`` (build one per run: a dlt source is
    a one-shot iterator, and dagster-dlt failed when given the same one twice).

    For dagster-dlt, keep the collector and raise after the run::

        failures = ExtractFailures()
        yield from dlt.run(context=context, dlt_source=make_ebird_source(s, failures=failures))
        failures.raise_if_any()
    """
    _quiet_dlt()
    from databox.ebird.source import ebird_source

    return ebird_source(
        settings.api_token,
        settings.regions,
        back_days=settings.back_days,
        base_url=settings.api_base_url,
        historic_date=historic_date,
        historic_dates=historic_dates,
        client=client or settings.client(),
        failures=failures,
    )


@dataclass(frozen=True)
class EbirdLoadSummary:
    pipeline_name: str
    #: The warehouse URL with any password masked.
    destination: str
    dataset_name: str
    load_ids: tuple[str, ...]
    #: Rows normalised this run, per table (dlt's own tables left out).
    row_counts: dict[str, int] = field(default_factory=dict)
    failures: tuple[RegionFailure, ...] = ()
    seconds: float = 0.0

    def __str__(self) -> str:
        counts = ", ".join(f"{t}={n}" for t, n in sorted(self.row_counts.items())) or "no rows"
        failed = f"; {len(self.failures)} failed request(s)" if self.failures else ""
        return (
            f"eBird → {self.destination} [{self.dataset_name}]: {counts} "
            f"({len(self.load_ids)} load package(s), {self.seconds:.1f} s){failed}"
        )


@contextmanager
def _warehouse_lock(lock_path: Path | None, timeout: float) -> Iterator[None]:
    with file_lock(lock_path, timeout=timeout) if lock_path else nullcontext():
        yield


def _ebird_cause(exc: BaseException) -> EbirdError | None:
    """The EbirdError inside dlt's wrappers (PipelineStepFailed → ResourceExtractionError → …)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, EbirdError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def translate_dlt_error(
    exc: BaseException, dataset_name: str = DEFAULT_DATASET
) -> EbirdError | None:
    """Our error for a failed dlt step: the EbirdError it wraps (a copy, so the chain
    new → dlt's error → original has no cycle), or ``EbirdSchemaChanged`` for a broken
    data contract; None when it is neither (re-raise dlt's)."""
    from databox.ebird.source import schema_change_from

    cause = _ebird_cause(exc)
    if cause is not None:
        return copy.copy(cause)
    return schema_change_from(exc, dataset_name)


def _drop_pending(pipeline: dlt.Pipeline, lock_path: Path | None, lock_timeout: float) -> list[str]:
    """Abort every pending package of ``pipeline`` (extracted or normalized) and rewind
    its local state; returns their load ids. Aborting a normalized package runs dlt's
    loader (it records the abort), hence the warehouse lock."""
    pending = [*pipeline.list_normalized_load_packages(), *pipeline.list_extracted_load_packages()]
    if not pending:
        return []
    with _warehouse_lock(lock_path, lock_timeout):
        pipeline.abort_packages()
    log.warning(
        "eBird pipeline %s: dropped pending load package(s) %s", pipeline.pipeline_name, pending
    )
    return pending


def _settle_pending(
    pipeline: dlt.Pipeline, lock_path: Path | None, lock_timeout: float
) -> list[str]:
    """Complete what an earlier run left pending, or drop it when that fails; returns
    the load ids loaded. A ``LockTimeout`` propagates (the package stays for later)."""
    if not pipeline.has_pending_data:
        return []
    log.warning(
        "eBird pipeline %s: completing load package(s) left pending by an earlier run: %s",
        pipeline.pipeline_name,
        [*pipeline.list_normalized_load_packages(), *pipeline.list_extracted_load_packages()],
    )
    try:
        if pipeline.list_extracted_load_packages():
            pipeline.normalize(workers=1)
        with _warehouse_lock(lock_path, lock_timeout):
            info = pipeline.load()
    except LockTimeout:
        raise
    except Exception as exc:
        log.warning(
            "eBird pipeline %s: the pending package(s) cannot be completed (%s); dropping them",
            pipeline.pipeline_name,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        _drop_pending(pipeline, lock_path, lock_timeout)
        return []
    return list(info.loads_ids) if info else []


def run_ebird(
    database_url: str,
    settings: EbirdSettings | None = None,
    *,
    historic_date: date | None = None,
    historic_dates: Sequence[date] | None = None,
    resources: Sequence[str] | None = None,
    dataset_name: str = DEFAULT_DATASET,
    pipeline_name: str = DEFAULT_PIPELINE,
    client: EbirdClient | None = None,
    lock_timeout: float = 600.0,
    loader_file_format: str | None = None,
) -> EbirdLoadSummary:
    """Extract eBird data for ``settings`` and load it into ``database_url``.

    ``resources``: the tables to load (default: all but ``historic_observations``,
    which is added when ``historic_date`` or ``historic_dates`` is given). Every
    request carries the token. Raises ``ConfigError`` without a token (before any
    request), ``EbirdAuthError`` for a bad token (nothing loaded),
    ``EbirdSchemaChanged`` when a record breaks the data contract (nothing loaded,
    the package dropped), ``EbirdExtractFailed`` after loading when some regions
    failed (``.summary`` tells what was loaded), ``LockTimeout`` when another process
    keeps the DuckDB file (or runs the same pipeline) for ``lock_timeout`` s.
    """
    from dlt.pipeline.exceptions import PipelineStepFailed

    from databox.ebird.source import RESOURCES, ExtractFailures

    settings = settings or ebird_settings_from_env()
    url = resolve_database_url(database_url.strip())
    has_dates = historic_date is not None or bool(historic_dates)
    if resources is not None:
        unknown = sorted(set(resources) - set(RESOURCES))
        if unknown:
            raise ValueError(f"unknown eBird resource(s) {unknown}; choose from {list(RESOURCES)}")
        if "historic_observations" in resources and not has_dates:
            raise ValueError("historic_observations needs historic_date or historic_dates")
    if client is None:
        settings.require_token()  # fail before any request, naming EBIRD_API_TOKEN

    pipeline = make_pipeline(
        url,
        pipelines_dir=settings.pipelines_dir,
        dataset_name=dataset_name,
        pipeline_name=pipeline_name,
    )
    failures = ExtractFailures()
    source = make_ebird_source(
        settings,
        historic_date=historic_date,
        historic_dates=historic_dates,
        failures=failures,
        client=client,
    )
    if resources is not None:
        source = source.with_resources(*resources)
    started = time.monotonic()
    lock_path = duckdb_lock_path(url)
    # Two runs of one pipeline must not share its working directory at the same time
    # (each would normalize and load the other's packages): the second waits. Runs
    # under different ``pipeline_name``s (e.g. parallel backfills) do not.
    run_lock = Path(settings.pipelines_dir) / f".{pipeline_name}.run.lock"
    with file_lock(run_lock, timeout=lock_timeout):
        settled = _settle_pending(pipeline, lock_path, lock_timeout)
        try:
            # Extract (API calls) and normalize (local files) hold no warehouse lock.
            # One normalize worker: it runs in-process; more workers spawn processes,
            # which costs more than it saves on batches of this size.
            pipeline.extract(source, loader_file_format=loader_file_format)
            normalize_info = pipeline.normalize(workers=1)
        except PipelineStepFailed as exc:
            # The package would fail the same way in every later run: drop it now.
            try:
                _drop_pending(pipeline, lock_path, lock_timeout)
            except Exception as drop_exc:  # the step's own error matters more
                log.error(
                    "eBird pipeline %s: could not drop the pending package(s) (%s); the "
                    "next run completes or drops them",
                    pipeline_name,
                    drop_exc,
                )
            ours = translate_dlt_error(exc, dataset_name)
            if ours is None:
                raise
            raise ours from exc
        try:
            with _warehouse_lock(lock_path, lock_timeout):
                load_info = pipeline.load()
        except PipelineStepFailed as exc:
            # dlt aborts a package whose job failed for good; one left pending (a
            # transient error) is completed or dropped by the next run.
            ours = translate_dlt_error(exc, dataset_name)
            if ours is None:
                raise
            raise ours from exc
    row_counts = {
        table: count
        for table, count in (normalize_info.row_counts if normalize_info else {}).items()
        if not table.startswith("_dlt")
    }
    summary = EbirdLoadSummary(
        pipeline_name=pipeline_name,
        destination=redact_url(url),
        dataset_name=dataset_name,
        load_ids=(*settled, *load_info.loads_ids),
        row_counts=row_counts,
        failures=tuple(failures.items),
        seconds=time.monotonic() - started,
    )
    log.info("%s", summary)
    failures.raise_if_any(summary)
    return summary
