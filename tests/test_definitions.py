"""The code location loads from every entry point users know, and wires what it should."""

from __future__ import annotations

import os

import pytest

from tests.dagster_helpers import REPO_ROOT, dagster


def _env(tmp_path) -> dict[str, str]:
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(tmp_path)
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return env


@pytest.mark.parametrize(
    ("args", "cwd"),
    [
        (["-f", "orchestration/definitions.py"], REPO_ROOT),
        (["-m", "orchestration.definitions"], REPO_ROOT),
        (["-f", "orchestration/dagster_project.py"], REPO_ROOT),
        ([], REPO_ROOT),  # bare: [tool.dagster] in pyproject.toml
        (["-f", "dagster_project.py"], REPO_ROOT / "orchestration"),
    ],
    ids=["file", "module", "dagster_project", "pyproject", "cd-orchestration"],
)
def test_definitions_load_from_every_entry_point(tmp_path, args, cwd):
    proc = dagster(["definitions", "validate", *args], _env(tmp_path), cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_definitions_wire_the_telegram_pipeline():
    from orchestration.definitions import defs

    job = defs.resolve_job_def("daily_pipeline_job")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"scrape_telegram", "load_raw_data"} <= keys
    graph = defs.resolve_asset_graph()
    load = graph.get(dg_key("load_raw_data"))
    assert dg_key("scrape_telegram") in load.parent_keys
    schedule = defs.resolve_schedule_def("daily_pipeline_schedule")
    assert schedule.job_name == "daily_pipeline_job"
    assert schedule.execution_timezone == "UTC"


def test_secrets_are_env_vars_not_values(monkeypatch):
    """With credentials in the environment the resource config holds EnvVar names only."""
    import dagster as dg

    from orchestration.resources import build_resources

    monkeypatch.setenv("TELEGRAM_API_HASH", "super-secret-hash")
    monkeypatch.setenv("TELEGRAM_SESSION", "1SECRETSESSION")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw@127.0.0.1:5432/x")
    resources = build_resources()
    telegram = resources["telegram"]
    assert isinstance(telegram.api_hash, dg.EnvVar) or telegram.api_hash == dg.EnvVar(
        "TELEGRAM_API_HASH"
    )
    assert "super-secret-hash" not in repr(telegram)
    assert "1SECRETSESSION" not in repr(telegram)
    assert "pw@" not in repr(resources["warehouse"])


def dg_key(name: str):
    import dagster as dg

    return dg.AssetKey(name)
