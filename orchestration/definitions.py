"""All Dagster definitions of the code location, as ``defs``.

Entry points: ``dagster dev -f orchestration/definitions.py``,
``dagster dev -m orchestration.definitions`` or bare ``dagster dev`` (pyproject's
``[tool.dagster]``), all from the repository root.
"""

from __future__ import annotations

import warnings

import dagster as dg
from dagster_dlt import DagsterDltResource

from databox.config import load_dotenv_file
from orchestration import ebird_assets, ebird_jobs, jobs, report, telegram_assets, telegram_marts
from orchestration.alerts import alert_sensors, freshness_checks
from orchestration.definition_settings import CELERY_BROKER_VAR, executor_choice
from orchestration.resources import build_resources

# Settings may live in a .env file at the project root; variables already set win.
load_dotenv_file()

# Dagster's snapshot of every schedule (code servers, `dagster job list`) reads its own
# deprecated ScheduleDefinition.environment_vars, which we never set: Dagster's warning,
# filtered by message and module only. Not filterable here: the "Function
# `job_execute_command` is superseded" FutureWarning of `dagster dev`, `job execute`,
# `asset materialize` and `definitions validate`, which their CLI process prints before
# it imports this module (see the orchestration docs in README.md for the -W filter).
warnings.filterwarnings(
    "ignore",
    message=r"Property `ScheduleDefinition\.environment_vars` is deprecated",
    category=DeprecationWarning,
    module=r"dagster\._core\.remote_representation\.external_data",
)


#: How often a celery run checks its steps (dagster_celery's default is 1 s).
CELERY_POLL_SECONDS = 0.05


def _executor() -> dg.ExecutorDefinition:
    """``DATABOX_EXECUTOR=in_process`` runs every step in the run's process (fast on a
    laptop: no 2–3 s subprocess start per step); the default multiprocess executor
    isolates steps; ``celery`` (the production topology, deploy/production) sends each
    step to the Celery workers listening on CELERY_BROKER_URL."""
    choice = executor_choice()
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "celery":
        # Imported only here: laptops never pay for celery/kombu. The broker is an env
        # reference, so the UI and the run config show the variable's name, never the URL.
        from dagster_celery import celery_executor, core_execution_loop

        # The run's loop sleeps this long between polls of its steps: dagster_celery's 1 s
        # cost ~3 s a run here (plan → chunks → collect, each hand-off waited a tick).
        # 0.05 s polls a handful of rpc:// results, a few ms of the run's CPU.
        core_execution_loop.TICK_SECONDS = CELERY_POLL_SECONDS
        return celery_executor.configured(
            {"broker": {"env": CELERY_BROKER_VAR}, "backend": "rpc://"}, name="celery"
        )
    return dg.multiprocess_executor


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([telegram_assets, telegram_marts, report, ebird_assets]),
    asset_checks=[
        *dg.load_asset_checks_from_modules([telegram_assets, telegram_marts, ebird_assets]),
        *freshness_checks,
    ],
    jobs=[
        jobs.daily_pipeline_job,
        ebird_jobs.daily_ebird_pipeline,
        ebird_jobs.ebird_historic_backfill,
    ],
    schedules=[jobs.daily_pipeline_schedule, ebird_jobs.daily_ebird_schedule],
    sensors=[ebird_jobs.ebird_api_availability_sensor, *alert_sensors],
    resources={**build_resources(), "dlt": DagsterDltResource()},
    executor=_executor(),
)
