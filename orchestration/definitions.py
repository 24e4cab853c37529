"""All Dagster definitions of the code location, as ``defs``.

Entry points: ``dagster dev -f orchestration/definitions.py``,
``dagster dev -m orchestration.definitions`` or bare ``dagster dev`` (pyproject's
``[tool.dagster]``), all from the repository root.
"""

from __future__ import annotations

import gc
import sys
import warnings

import dagster as dg
from dagster_dlt import DagsterDltResource

from databox.config import load_dotenv_file
from orchestration import ebird_assets, ebird_jobs, jobs, report, telegram_assets, telegram_marts
from orchestration.alerts import alert_sensors
from orchestration.executors import build_executor
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


#: Extension modules whose objects must be freed before exit (see gc.freeze below).
NANOBIND_MODULES = ("_duckdb", "onnx.onnx_cpp2py_export")

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([telegram_assets, telegram_marts, report, ebird_assets]),
    # Most checks are check_specs of their asset, evaluated in its step
    # (orchestration.inline_checks); these are the ones with a step of their own.
    asset_checks=dg.load_asset_checks_from_modules([telegram_assets, telegram_marts, ebird_assets]),
    jobs=[
        jobs.daily_pipeline_job,
        ebird_jobs.daily_ebird_pipeline,
        ebird_jobs.ebird_historic_backfill,
    ],
    schedules=[jobs.daily_pipeline_schedule, ebird_jobs.daily_ebird_schedule],
    sensors=[ebird_jobs.ebird_api_availability_sensor, *alert_sensors],
    resources={**build_resources(), "dlt": DagsterDltResource()},
    executor=build_executor(),
)

# Everything imported so far (Dagster, dlt, the definitions: ~180,000 objects) lives as
# long as the process. Frozen, the collector stops re-scanning it, and Python's shutdown
# skips it: every `dagster job execute` / `asset materialize` exited 0.6–0.9 s sooner
# (python -c "import orchestration.definitions": 2.8 s → 2.0 s). Only ~150 unreachable
# objects of the imports stay allocated. Not when a nanobind extension (DuckDB, onnx)
# was imported first (a script or test that imports it before us): nanobind reports
# every object of its own still alive at exit as a "leak" on stderr.
if not any(name in sys.modules for name in NANOBIND_MODULES):
    gc.freeze()
