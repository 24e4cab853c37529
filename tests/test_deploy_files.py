"""The production files agree with the process list `databox deploy up` starts (fast:
no process is started, nothing is built)."""

from __future__ import annotations

import yaml

from databox.deploy.processes import (
    CODE_MODULE,
    LOCATION_NAME,
    process_list,
    topology_environment,
)
from tests.conftest import REPO_ROOT

PRODUCTION = REPO_ROOT / "deploy" / "production"


def _yaml(name: str) -> dict:
    return yaml.safe_load((PRODUCTION / name).read_text())


def test_compose_services_run_exactly_the_process_list():
    services = _yaml("compose.yaml")["services"]
    expected = {p.name: list(p.argv) for p in process_list()}
    assert {name: s["command"] for name, s in services.items()} == expected
    for name, service in services.items():
        assert service["network_mode"] == "host", name  # the commands' 127.0.0.1 addresses
        assert service["environment"]["DATABOX_GRPC_PORT"] == "4266", name


def test_dockerfile_installs_the_locked_environment_and_the_instance_config():
    text = (PRODUCTION / "Dockerfile").read_text()
    assert text.startswith("#") and "\nFROM python:3.11" in text
    assert "uv sync --frozen --no-dev" in text
    for needed in ("COPY src", "COPY orchestration", "COPY deploy", "DAGSTER_HOME=",
                   "DATABOX_EXECUTOR=celery", "PYTHONPATH=/app/deploy/production",
                   "deploy/production/dagster.yaml"):  # fmt: skip
        assert needed in text, needed
    # Secrets are run-time environment, never baked into the image.
    for secret in ("DAGSTER_PG_URL=", "CELERY_BROKER_URL=", "DATABASE_URL=", "TOKEN="):
        assert secret not in text, secret


def test_workspace_names_the_code_server_of_the_process_list():
    (entry,) = _yaml("workspace.yaml")["load_from"]
    server = entry["grpc_server"]
    assert server["location_name"] == LOCATION_NAME
    assert server["host"] == {"env": "DATABOX_GRPC_HOST"}
    assert server["port"] == {"env": "DATABOX_GRPC_PORT"}
    codeserver = next(p for p in process_list() if p.name == "codeserver")
    assert CODE_MODULE == "orchestration.definitions" and CODE_MODULE in codeserver.argv


def test_instance_uses_postgres_the_run_queue_limits_and_run_monitoring():
    config = _yaml("dagster.yaml")
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert limits == [
        {"key": "databox/pipeline", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert config["run_monitoring"]["enabled"] is True
    assert config["telemetry"]["enabled"] is False


def test_jobs_carry_the_tag_the_queue_limits():
    from orchestration import ebird_jobs, jobs

    assert jobs.daily_pipeline_job.tags == {"databox/pipeline": "telegram"}
    assert ebird_jobs.daily_ebird_pipeline.tags == {"databox/pipeline": "ebird"}
    assert ebird_jobs.ebird_historic_backfill.tags == {"databox/pipeline": "ebird"}


def test_the_instance_config_loads_in_dagster():
    """Dagster validates it (e.g. refuses run limits under run_coordinator next to a
    `concurrency` block): the shipped file must pass that validation."""
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(PRODUCTION), "dagster.yaml")
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 10


def test_celery_executor_needs_a_broker_and_never_shows_its_password(monkeypatch):
    import pytest

    from databox.errors import ConfigError
    from orchestration.definition_settings import executor_choice

    monkeypatch.setenv("DATABOX_EXECUTOR", "celery")
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    with pytest.raises(ConfigError, match=r"CELERY_BROKER_URL=\(unset\).*amqp://"):
        executor_choice()
    monkeypatch.setenv("CELERY_BROKER_URL", "http://user:s3cret@host/")
    with pytest.raises(ConfigError) as err:
        executor_choice()
    assert "s3cret" not in str(err.value) and "'http'" in str(err.value)
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    assert executor_choice() == "celery"


def test_deploy_check_reports_every_service_located_with_passwords_redacted(monkeypatch, capsys):
    from databox.cli import main

    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest:s3cret@127.0.0.1:1//")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/wh")
    assert main(["deploy", "check"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 3)[2].split("=", 1)[0] for line in lines] == [
        "DAGSTER_PG_URL", "CELERY_BROKER_URL", "DATABASE_URL"
    ]  # fmt: skip
    assert all(line.startswith("databox: error: ") for line in lines)
    assert "127.0.0.1:1" in lines[1] and "s3cret" not in "\n".join(lines)


def test_workers_share_the_hosts_cores_and_the_plan_knows_how_many(tmp_path):
    def env(base, workers, cpus):
        out = topology_environment(base, dagster_home=tmp_path, workers=workers, cpus=cpus)
        return out["YOLO_THREADS"], out["ENRICH_WORKERS"]

    assert env({}, workers=2, cpus=2) == ("1", "2")  # 2 × 1 thread, not 2 × 2 on 2 cores
    assert env({}, workers=1, cpus=4) == ("4", "1")
    assert env({}, workers=3, cpus=8) == ("2", "3")
    assert env({}, workers=4, cpus=2) == ("1", "4")
    # What the person set wins.
    assert env({"YOLO_THREADS": "3", "ENRICH_WORKERS": "5"}, workers=2, cpus=2) == ("3", "5")


def test_celery_runs_poll_their_steps_faster_than_dagster_celerys_default(monkeypatch):
    """The run's loop waits TICK_SECONDS between polls; dagster_celery's 1 s cost each
    hand-off (plan → chunks → collect) up to a second. The constant must still exist."""
    from dagster_celery import core_execution_loop

    from orchestration import executors

    monkeypatch.setattr(core_execution_loop, "TICK_SECONDS", 1)
    monkeypatch.setenv("DATABOX_EXECUTOR", "celery")
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    assert executors.build_executor().name == "celery"
    assert core_execution_loop.TICK_SECONDS == executors.CELERY_POLL_SECONDS <= 0.1
