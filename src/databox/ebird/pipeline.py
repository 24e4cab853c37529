"""Run the eBird source into the warehouse named by DATABASE_URL.

``make_pipeline`` maps our URLs to dlt destinations:

* ``duckdb:///path.duckdb`` → dlt's duckdb destination on that file (relative paths
  resolved against the project root, as everywhere else);
* ``postgresql://user@host:5432/db`` → dlt's postgres destination. dlt insists on a
  password even when the server trusts the connection, so a URL without one gets an
  empty password (or PGPASSWORD when set); libpq then sends none unless asked.

The dataset (``raw_ebird``) is a schema in both databases; merge loads also leave a
``raw_ebird_staging`` schema, as dlt does.

``run_ebird`` runs dlt's three steps itself instead of ``pipeline.run`` so that the
DuckDB file lock (``<db>.lock``, the same lock the DuckDB adapter takes) is held for
the load step only, not while the API is being called: extract and normalize touch
only local files. Rows of regions that did arrive are loaded; the regions that
failed are then reported by raising ``EbirdExtractFailed``.

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
from databox.filelock import file_lock

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
]

DEFAULT_DATASET = "raw_ebird"
DEFAULT_PIPELINE = "ebird"
#: Resources that work without a token (§1.1: taxonomy is proven tokenless).
TOKENLESS_RESOURCES = frozenset({"taxonomy"})

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
    """The dlt destination for our DATABASE_URL."""
    import dlt

    url = resolve_database_url(database_url.strip())
    scheme = urlsplit(url).scheme
    if scheme == "duckdb":
        path = _duckdb_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Parquet instead of dlt's default INSERT … VALUES files: measured on 17k
        # taxonomy rows (dlt 1.31, duckdb 2.0) a load took 8-11 s with insert_values and
        # 1.7-2.6 s with parquet. Set as a capability, so dagster-dlt runs get it too.
        return dlt.destinations.duckdb(
            credentials=str(path), preferred_loader_file_format="parquet"
        )
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return dlt.destinations.postgres(credentials=_postgres_credentials(url))
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

    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=dlt_destination(database_url),
        dataset_name=dataset_name,
        pipelines_dir=str(pipelines_dir),
    )


def make_ebird_source(
    settings: EbirdSettings,
    *,
    historic_date: date | None = None,
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


def run_ebird(
    database_url: str,
    settings: EbirdSettings | None = None,
    *,
    historic_date: date | None = None,
    resources: Sequence[str] | None = None,
    dataset_name: str = DEFAULT_DATASET,
    pipeline_name: str = DEFAULT_PIPELINE,
    client: EbirdClient | None = None,
    lock_timeout: float = 600.0,
    loader_file_format: str | None = None,
) -> EbirdLoadSummary:
    """Extract eBird data for ``settings`` and load it into ``database_url``.

    ``resources``: the tables to load (default: all but ``historic_observations``,
    which is added when ``historic_date`` is given). Raises ``EbirdAuthError`` for a
    bad token (nothing loaded), ``EbirdExtractFailed`` after loading when some
    regions failed (``.summary`` tells what was loaded), ``LockTimeout`` when another
    process keeps the DuckDB file (or runs the same pipeline) for ``lock_timeout`` s.
    """
    from dlt.pipeline.exceptions import PipelineStepFailed

    from databox.ebird.source import RESOURCES, ExtractFailures

    settings = settings or ebird_settings_from_env()
    url = resolve_database_url(database_url.strip())
    if resources is not None:
        unknown = sorted(set(resources) - set(RESOURCES))
        if unknown:
            raise ValueError(f"unknown eBird resource(s) {unknown}; choose from {list(RESOURCES)}")
        if "historic_observations" in resources and historic_date is None:
            raise ValueError("historic_observations needs historic_date")
    wanted = set(resources) if resources is not None else set(RESOURCES)
    if client is None and wanted - TOKENLESS_RESOURCES:
        settings.require_token()  # fail before any request, naming EBIRD_API_TOKEN

    pipeline = make_pipeline(
        url,
        pipelines_dir=settings.pipelines_dir,
        dataset_name=dataset_name,
        pipeline_name=pipeline_name,
    )
    failures = ExtractFailures()
    source = make_ebird_source(
        settings, historic_date=historic_date, failures=failures, client=client
    )
    if resources is not None:
        source = source.with_resources(*resources)
    started = time.monotonic()
    # Two runs of one pipeline must not share its working directory at the same time
    # (each would normalize and load the other's packages): the second waits. Runs
    # under different ``pipeline_name``s (e.g. parallel backfills) do not.
    run_lock = Path(settings.pipelines_dir) / f".{pipeline_name}.run.lock"
    try:
        with file_lock(run_lock, timeout=lock_timeout):
            # Extract (API calls) and normalize (local files) hold no warehouse lock.
            # One normalize worker: it runs in-process; more workers spawn processes,
            # which costs more than it saves on batches of this size.
            pipeline.extract(source, loader_file_format=loader_file_format)
            normalize_info = pipeline.normalize(workers=1)
            with _warehouse_lock(duckdb_lock_path(url), lock_timeout):
                load_info = pipeline.load()
    except PipelineStepFailed as exc:
        cause = _ebird_cause(exc)
        if cause is None:
            raise
        # Surface our own error (e.g. the 403 message) rather than dlt's wrapper; a
        # copy, so the chain new → dlt's error → original has no cycle.
        raise copy.copy(cause) from exc
    row_counts = {
        table: count
        for table, count in (normalize_info.row_counts if normalize_info else {}).items()
        if not table.startswith("_dlt")
    }
    summary = EbirdLoadSummary(
        pipeline_name=pipeline_name,
        destination=redact_url(url),
        dataset_name=dataset_name,
        load_ids=tuple(load_info.loads_ids),
        row_counts=row_counts,
        failures=tuple(failures.items),
        seconds=time.monotonic() - started,
    )
    log.info("%s", summary)
    failures.raise_if_any(summary)
    return summary
