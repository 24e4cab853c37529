"""Shared fixtures.

Services: a test that needs PostgreSQL skips with the reason when the server is
not reachable, except under ``CI=true`` where it fails instead, so CI never
counts a skipped database test as passing.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("DATABOX_SHARED_DIR", REPO_ROOT.parent / "shared"))
PG_ADMIN_URL = os.environ.get(
    "DATABOX_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

# Keep third-party telemetry quiet: these machines only reach the package registries.
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "1")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(available: bool, reason: str) -> None:
    """Skip locally, fail under CI=true."""
    if available:
        return
    if in_ci():
        pytest.fail(f"required service unavailable under CI: {reason}")
    pytest.skip(reason)


def _pg_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
        return None
    except Exception as exc:  # the reason is shown in the skip message
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"


@pytest.fixture(scope="session")
def pg_server() -> str:
    reason = _pg_reachable()
    require_service(reason is None, reason or "")
    return PG_ADMIN_URL


def create_database(server: str, prefix: str = "databox_test") -> str:
    """A new, empty database on ``server``; its URL. Drop it with ``drop_database``."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # A commit need not wait for the WAL flush: only a crash of the server itself
        # could lose one, which no test does; every session of the test database (the
        # loaders', SQLMesh's, a Dagster instance's) commits without an fsync.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    return f"{server.rsplit('/', 1)[0]}/{name}"


def drop_database(server: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server: str):
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    url = create_database(pg_server)
    try:
        yield url
    finally:
        drop_database(pg_server, url)


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path: Path) -> str:
    """Run a test once on DuckDB and once on PostgreSQL."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def coco_photos() -> list[Path]:
    folder = SHARED_DIR / "datasets" / "coco-val-sample"
    photos = sorted(folder.glob("*.jpg"))
    require_service(bool(photos), f"no sample photos at {folder}")
    return photos


#: The longest test files (tens of seconds each: Dagster runs, the production topology, the
#: browser), longest first. Under pytest-xdist's ``--dist loadfile`` a file goes to the next
#: free worker in collection order, so starting with these and letting the many short files
#: fill in behind them keeps one long file from running alone at the end.
LONG_FILES = (  # by their time on the 2-core machine, longest first (junit, 2026-12-01)
    "test_pipeline_job.py",
    "test_deploy.py",
    "test_demo_ui.py",
    "test_ebird_job.py",
    "test_pipeline_production.py",
    "test_ebird_backfill.py",
    "test_transform.py",
    "test_telegram_marts.py",
    "test_ebird_source.py",
    "test_definitions.py",
    "test_ebird_quality.py",
    "test_ebird_exact.py",
    "test_ebird_metadata.py",
    "test_instance_race.py",
    "test_dagster_dev.py",
    "test_web_faults.py",
    "test_report.py",
)


#: Where the suite's temporary directories go when it is a tmpfs with room: the tests
#: write lakes, DuckDB files and Dagster's SQLite event log, and fsync each commit; on
#: a disk that cost ~13 % of a pipeline test (test_job_runs_on_duckdb_and_is_idempotent
#: 40.6 s → 35.4 s). Nothing the tests check depends on fsync (the kill -9 tests keep
#: the page cache). pytest keeps its usual last 3 base directories there (~0.5 GB
#: each). DATABOX_TEST_TMPFS=0 (or --basetemp) keeps them on disk.
TMPFS = Path("/dev/shm")
TMPFS_MIN_FREE = 4 << 30


def _tmpfs_with_room() -> bool:
    if os.environ.get("DATABOX_TEST_TMPFS", "1") == "0" or not TMPFS.is_dir():
        return False
    try:
        with open("/proc/mounts") as mounts:
            is_tmpfs = any(f" {TMPFS} tmpfs " in line for line in mounts)
        stats = os.statvfs(TMPFS)
    except OSError:
        return False
    return (
        is_tmpfs and os.access(TMPFS, os.W_OK) and stats.f_bavail * stats.f_frsize > TMPFS_MIN_FREE
    )


def pytest_configure(config: pytest.Config) -> None:
    # The controller picks the base directory; xdist hands each worker a subdirectory.
    if config.option.basetemp is None and not hasattr(config, "workerinput") and _tmpfs_with_room():
        import tempfile

        tempfile.tempdir = str(TMPFS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    # A stable sort: the order inside a file (and among the short files) is kept.
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))
