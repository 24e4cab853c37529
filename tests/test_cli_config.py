"""Configuration is validated up front, every problem reported at once, never a traceback.

Most cases run ``databox.cli.main(argv)`` in process against a temporary project root
(``DATABOX_HOME``), so nothing is written into the repository; two run the real
``python -m databox.cli`` to prove what a user sees at process level.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from databox.cli import main
from databox.errors import ConfigError
from tests.conftest import REPO_ROOT, require_service

#: Variables a developer's shell (or .env) may set: cleared so each case sees only its own.
PREFIXES = ("DATABASE_URL", "DATA_LAKE_DIR", "PROCESSED_DATA_DIR", "DLT_DATA_DIR", "TELEGRAM_",
            "EBIRD_", "YOLO_", "DATABOX_EXECUTOR", "DAGSTER_HOME", "PG")  # fmt: skip
SECRET = "hunter2"


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A project root with a lake, a regular file and a file that is not a database."""
    for name in list(os.environ):
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABOX_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lake").mkdir()
    (tmp_path / "afile").write_text("a regular file\n")
    (tmp_path / "notes.duckdb").write_text("not a database\n")
    return tmp_path


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


LAKE = {"DATA_LAKE_DIR": "{tmp}/lake"}

# (environment, argv, exit code, fragments each expected on a "databox: error:" line)
CASES = {
    "missing lake dir on load": (
        {"DATA_LAKE_DIR": "{tmp}/lak"},
        ["load"],
        2,
        ["DATA_LAKE_DIR={tmp}/lak: no such directory", "`databox scrape`"],
    ),
    "lake dir is a file": (
        {"DATA_LAKE_DIR": "{tmp}/afile"},
        ["status"],
        2,
        ["DATA_LAKE_DIR={tmp}/afile is a file, not a directory"],
    ),
    "processed dir under a file": (
        {**LAKE, "PROCESSED_DATA_DIR": "{tmp}/afile/processed"},
        ["config"],
        2,
        ["PROCESSED_DATA_DIR={tmp}/afile/processed cannot be created: {tmp}/afile is a file"],
    ),
    "in-memory duckdb": (
        {**LAKE, "DATABASE_URL": "duckdb:///:memory:"},
        ["load"],
        2,
        ["DATABASE_URL='duckdb:///:memory:': an in-memory DuckDB", "Dagster's step processes"],
    ),
    "duckdb without a path": (
        {**LAKE, "DATABASE_URL": "duckdb:///"},
        ["load"],
        2,
        ["DATABASE_URL='duckdb:///': no database file"],
    ),
    "duckdb path under a file": (
        {**LAKE, "DATABASE_URL": "duckdb:///{tmp}/afile/w.duckdb"},
        ["load"],
        2,
        ["DATABASE_URL=duckdb:///{tmp}/afile/w.duckdb", "{tmp}/afile is a file, not a directory"],
    ),
    "file that is not a duckdb database": (
        {**LAKE, "DATABASE_URL": "duckdb:///{tmp}/notes.duckdb"},
        ["status"],
        2,
        [
            "DATABASE_URL=duckdb:///{tmp}/notes.duckdb: {tmp}/notes.duckdb exists but is not a DuckDB"
        ],
    ),
    "unsupported scheme, password masked": (
        {**LAKE, "DATABASE_URL": f"mysql://u:{SECRET}@db/x"},
        ["status"],
        2,
        ["DATABASE_URL='mysql://u:***@db/x': unsupported scheme 'mysql'"],
    ),
    "postgres refused on a closed port": (
        {**LAKE, "DATABASE_URL": f"postgresql://postgres:{SECRET}@127.0.0.1:{{port}}/test"},
        ["load"],
        2,
        [
            "host 127.0.0.1, port {port}, database 'test', user 'postgres': Connection refused",
            "Start it, or fix the host/port in DATABASE_URL",
        ],
    ),
    "every bad number at once": (
        {
            "TELEGRAM_CONCURRENCY": "abc",
            "YOLO_THREADS": "0",
            "TELEGRAM_HTTP_DEADLINE": "-1",
            "YOLO_SCORE_THRESHOLD": "1.5",
            "EBIRD_BACK_DAYS": "99",
            "TELEGRAM_HTTP_RETRIES": "x",
        },
        ["config"],
        2,
        [
            "TELEGRAM_CONCURRENCY='abc' must be a positive whole number",
            "default (3)",
            "YOLO_THREADS='0' must be a positive whole number",
            "TELEGRAM_HTTP_DEADLINE='-1' must be a positive number of seconds",
            "YOLO_SCORE_THRESHOLD='1.5' must be a number between 0 and 1",
            "EBIRD_BACK_DAYS='99' must be a whole number of days from 1 to 30",
            "TELEGRAM_HTTP_RETRIES='x' must be a whole number, 0 or more",
        ],
    ),
    "partial telethon credentials": (
        {**LAKE, "TELEGRAM_API_ID": "123"},
        ["scrape"],
        2,
        [
            "TELEGRAM_API_ID set, missing TELEGRAM_API_HASH, TELEGRAM_SESSION",
            "databox telegram login",
        ],
    ),
    "telethon api id not a number": (
        {**LAKE, "TELEGRAM_API_ID": "abc", "TELEGRAM_API_HASH": SECRET, "TELEGRAM_SESSION": SECRET},
        ["scrape"],
        2,
        ["TELEGRAM_API_ID='abc' is not a number", "my.telegram.org"],
    ),
    "web base url not http": (
        {**LAKE, "TELEGRAM_WEB_BASE_URL": "ftp://t.me"},
        ["scrape"],
        2,
        ["TELEGRAM_WEB_BASE_URL='ftp://t.me' is not an http(s) URL"],
    ),
    "bad channel on the command line": (
        LAKE,
        ["scrape", "--channels", "ok_name,bad name"],
        2,
        ["--channels='ok_name,bad name': invalid Telegram channel name 'bad name'"],
    ),
    "demo dir never made": (
        {},
        ["load", "--demo", "{tmp}/nodemo"],
        2,
        ["DATA_LAKE_DIR={tmp}/nodemo/lake: no such directory", "databox demo --dir {tmp}/nodemo"],
    ),
    "eBird timezone": (
        {"EBIRD_SCHEDULE_TIMEZONE": "Mars/Olympus"},
        ["config"],
        2,
        ["EBIRD_SCHEDULE_TIMEZONE='Mars/Olympus' is not an IANA time zone"],
    ),
}


@pytest.mark.parametrize(("env", "argv", "code", "fragments"), CASES.values(), ids=CASES.keys())
def test_bad_configuration_is_reported_per_variable(
    home, monkeypatch, capsys, env, argv, code, fragments
):
    values = {"tmp": home, "port": closed_port()}
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(**values))
    got, out, err = run([a.format(**values) for a in argv], capsys)
    assert got == code, out + err
    errors = [line for line in err.splitlines() if line.startswith("databox: error: ")]
    for fragment in fragments:
        fragment = fragment.format(**values)
        assert any(fragment in line for line in errors), f"{fragment!r} not in:\n{err}"
    assert "Traceback" not in out + err
    assert SECRET not in out + err
    # Refused before any work: no warehouse file (nor one named ':memory:') appeared.
    assert {p.name for p in home.rglob("*.duckdb*")} <= {"notes.duckdb"}
    assert not (REPO_ROOT / ":memory:").exists() and not (home / ":memory:").exists()


def test_postgres_database_that_does_not_exist(pg_server, home, monkeypatch, capsys):
    url = f"{pg_server.rsplit('/', 1)[0]}/databox_no_such_database"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATA_LAKE_DIR", str(home / "lake"))
    code, _, err = run(["status"], capsys)
    assert code == 2
    assert "database 'databox_no_such_database'" in err
    assert 'database "databox_no_such_database" does not exist; create it (createdb' in err
    assert "Traceback" not in err


def test_usage_errors_and_unexpected_errors(home, monkeypatch, capsys):
    code, _, err = run(["load", "--bogus"], capsys)
    assert code == 2 and "unrecognized arguments: --bogus" in err

    def boom(settings):
        raise RuntimeError("boom")

    monkeypatch.setattr("databox.status_report.print_status", boom)
    monkeypatch.setenv("DATA_LAKE_DIR", str(home / "lake"))
    code, _, err = run(["status"], capsys)
    assert code == 1
    assert err.strip() == (
        "databox: error: unexpected RuntimeError: boom; this is a bug: run again with --debug "
        "for the traceback and report it"
    )
    code, _, err = run(["status", "--debug"], capsys)
    assert code == 1 and "Traceback" in err and "RuntimeError: boom" in err


def test_help_documents_the_exit_codes(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert "exit codes:" in out and "0    success" in out
    assert "1    the work failed" in out and "2    bad usage or configuration" in out


def test_status_on_a_missing_warehouse_creates_nothing(home, monkeypatch, capsys):
    monkeypatch.setenv("DATA_LAKE_DIR", str(home / "lake"))
    monkeypatch.setenv("DATABASE_URL", f"duckdb:///{home}/wh/warehouse.duckdb")
    code, out, err = run(["status"], capsys)
    assert code == 0, err
    assert f"nothing loaded yet: there is no DuckDB file at {home}/wh/warehouse.duckdb" in out
    assert out.count("warehouse:") == 1
    assert not (home / "wh").exists()


def _add_ebird_and_detection_tables(database_url: str) -> None:
    """What the other pipelines leave behind, minimally: one eBird table, quality
    results of one run (one failed check), detections of two photos."""
    from databox.warehouse import connect

    now = datetime(2025, 5, 3, tzinfo=timezone.utc)
    with connect(database_url).transaction() as tx:
        for sql in (
            "CREATE SCHEMA raw_ebird",
            "CREATE TABLE raw_ebird.recent_observations (sub_id TEXT)",
            "INSERT INTO raw_ebird.recent_observations VALUES ('S1'), ('S2'), ('S3')",
            "CREATE SCHEMA quality",
            "CREATE TABLE quality.data_quality_results (run_id TEXT, check_name TEXT, "
            "passed BOOLEAN, skipped BOOLEAN, checked_at TIMESTAMPTZ)",
            "CREATE TABLE raw.image_detections (image_path TEXT, class_name TEXT)",
            "INSERT INTO raw.image_detections VALUES ('a.jpg', 'person'), ('a.jpg', 'bottle'), "
            "('b.jpg', 'cup')",
            "CREATE TABLE raw.image_enrichment (image_path TEXT, category TEXT, status TEXT)",
            "INSERT INTO raw.image_enrichment VALUES ('a.jpg', 'promotional', 'ok'), "
            "('b.jpg', 'product_display', 'ok')",
        ):
            tx.execute(sql)
        for name, passed in (("lat_in_range", False), ("not_null_sub_id", True)):
            tx.execute(
                "INSERT INTO quality.data_quality_results VALUES ('run-1', %s, %s, false, %s)",
                (name, passed, now),
            )


def test_status_after_a_load_shows_every_pipeline(home, monkeypatch, capsys):
    from tests.test_load_raw import build_lake

    build_lake(home / "lake")
    monkeypatch.setenv("DATA_LAKE_DIR", str(home / "lake"))
    code, out, err = run(["load"], capsys)
    assert code == 0, err
    _add_ebird_and_detection_tables(f"duckdb:///{home}/data/warehouse.duckdb")
    code, out, err = run(["status"], capsys)
    assert code == 0, err
    assert out.count("warehouse:") == 1
    assert "Telegram raw.telegram_messages: 12 rows (12 posts)" in out
    assert "unresolved load errors 0" in out
    assert "detections raw.image_detections: 3 objects in 2 photos" in out
    assert "promotional 1" in out and "product_display 1" in out
    assert "raw_ebird.recent_observations" in out and "3 rows" in out
    assert "raw_ebird.taxonomy                 not loaded" in out
    assert "1 of 2 checks passed, 1 failed, 0 skipped; failed: lat_in_range" in out


def test_load_reports_each_error_and_fails(home, monkeypatch, capsys):
    bad = home / "lake" / "raw" / "telegram_messages" / "2025-05-01" / "CheMed123.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"not": "an array"}')
    monkeypatch.setenv("DATA_LAKE_DIR", str(home / "lake"))
    code, out, err = run(["load"], capsys)
    assert code == 1
    assert "1 failed" in out
    assert "ERROR raw/telegram_messages/2025-05-01/CheMed123.json" in err
    assert "Traceback" not in err


def test_config_shows_the_model_found_and_the_default_product_classes(home, monkeypatch, capsys):
    from databox.detect import resolve_model_path

    try:
        model = resolve_model_path()
    except ConfigError as exc:
        require_service(False, f"no detector model: {exc}")
    monkeypatch.setenv("EBIRD_API_TOKEN", SECRET)
    monkeypatch.setenv("TELEGRAM_CONCURRENCY", "5")
    code, out, err = run(["config", "--demo"], capsys)
    assert code == 0, err
    assert f"model: {model} (found" in out
    assert "bottle,bowl,cell phone,cup" in out  # sorted DEFAULT_PRODUCT_CLASSES
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["YOLO_PRODUCT_CLASSES"].endswith("[default]")
    assert lines["TELEGRAM_CONCURRENCY"].split()[1:] == ["5", "[env]"]
    assert lines["DATABASE_URL"].endswith("[--demo]")
    assert f"{home}/data/demo/warehouse.duckdb" in lines["DATABASE_URL"]
    assert lines["EBIRD_API_TOKEN"].split()[1:] == ["***", "[env]"]
    assert "TELEGRAM_HTTP_DEADLINE" in lines and "EBIRD_REGIONS" in lines
    assert "source: the public web preview, https://t.me/s/<channel>" in out
    assert SECRET not in out + err


def _at_run_time(resources: dict) -> dict:
    """What Dagster does when a run starts: each ``EnvVar`` field becomes the variable's
    value (done by hand: ``process_config_and_initialize`` builds an instance, ~5 s)."""
    import dagster as dg

    def resolved(resource):
        fields = {name: getattr(resource, name) for name in type(resource).model_fields}
        return type(resource)(
            **{k: os.environ[v] if isinstance(v, dg.EnvVar) else v for k, v in fields.items()}
        )

    return {name: resolved(resource) for name, resource in resources.items()}


def test_build_resources_never_raises_and_steps_fail_with_the_variable(home, monkeypatch):
    from orchestration.resources import build_resources

    bad = {"TELEGRAM_CONCURRENCY": "abc", "YOLO_THREADS": "x", "EBIRD_BACK_DAYS": "99",
           "DATA_LAKE_DIR": str(home / "afile"),
           "DATABASE_URL": f"postgresql://postgres:{SECRET}@127.0.0.1:{closed_port()}/test"}  # fmt: skip
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    resources = _at_run_time(build_resources())
    with pytest.raises(ConfigError, match=r"TELEGRAM_CONCURRENCY='abc' must be a positive"):
        resources["telegram"].settings(resources["lake"])
    with pytest.raises(ConfigError, match=r"YOLO_THREADS='x'"):
        resources["detector"].settings()
    with pytest.raises(ConfigError, match=r"EBIRD_BACK_DAYS='99'"):
        resources["ebird"].settings()
    with pytest.raises(ConfigError, match=r"DATA_LAKE_DIR=.*afile is a file"):
        resources["lake"].lake()
    with pytest.raises(ConfigError, match="Connection refused") as refused:
        resources["warehouse"].connect()
    assert SECRET not in str(refused.value)

    # The web preview's HTTP limits reach the Dagster runs too (they used to be dropped).
    monkeypatch.setenv("TELEGRAM_CONCURRENCY", "2")
    monkeypatch.setenv("TELEGRAM_HTTP_DEADLINE", "7.5")
    monkeypatch.setenv("TELEGRAM_MAX_PHOTO_BYTES", "1000")
    monkeypatch.setenv("DATA_LAKE_DIR", str(home / "lake"))
    resources = _at_run_time(build_resources())
    settings = resources["telegram"].settings(resources["lake"])
    assert (settings.telegram_concurrency, settings.telegram_http_deadline) == (2, 7.5)
    assert settings.telegram_max_photo_bytes == 1000


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update(DATABOX_HOME=str(home), DATA_LAKE_DIR=str(home / "no_lake"))
    return subprocess.run(
        [sys.executable, "-m", "databox.cli", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_process_level_errors_have_no_traceback_unless_debug(home):
    plain = _cli(["load"], home)
    assert plain.returncode == 2
    assert plain.stderr.startswith(f"databox: error: DATA_LAKE_DIR={home}/no_lake: no such")
    assert "Traceback" not in plain.stdout + plain.stderr

    debug = _cli(["--debug", "load"], home)
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert f"databox: error: DATA_LAKE_DIR={home}/no_lake" in debug.stderr


def test_demo_passes_ui_and_port(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("databox.demo.run_demo", lambda **kwargs: calls.append(kwargs) or 0)
    assert run(["demo", "--ui", "--port", "3100", "--dir", "data/d2", "--keep"], capsys)[0] == 0
    assert calls[0]["workdir"] == "data/d2" and calls[0]["keep"] is True
    assert (calls[0]["ui"], calls[0]["ui_port"]) == (True, 3100)


def test_replica_ebird_prints_the_variables_to_use_it(monkeypatch, capsys):
    from databox.replica.ebird_api import EbirdApiReplica

    monkeypatch.setattr(EbirdApiReplica, "serve_until_stopped", lambda self: None)
    code, out, _ = run(["replica", "ebird", "--port", "0", "--token", "tok"], capsys)
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("Use it with:"))
    assert "EBIRD_API_BASE_URL=http://127.0.0.1:" in line and line.split()[3].endswith("/v2")
    assert "EBIRD_API_TOKEN=tok" in line and "EBIRD_REGIONS=US-NY,US-CA,KE" in line
