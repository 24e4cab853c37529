"""The run's executor, chosen by ``DATABOX_EXECUTOR`` (multiprocess by default).

The default multiprocess executor starts every step in a process of its own. With
Python's default ``spawn`` each of them re-imported Dagster, dlt, our definitions and
then SQLMesh or onnxruntime before its first line of work: 2–7 s a step, most of a run
on this data. Ours starts them with ``forkserver`` instead: one server process per run
imports :data:`STEP_PRELOAD` once and forks each step from it, so a step starts in
~0.1 s with everything loaded, still a process of its own (a crash, a leak or a hung
C extension stays in its step). Run config can still choose ``start_method: spawn``.
"""

from __future__ import annotations

import dagster as dg

from orchestration.definition_settings import CELERY_BROKER_VAR, executor_choice

#: Imported once per run by the forkserver: Dagster's step entry point and what more
#: than one step imports (orchestration.step_preload, which the celery workers load too).
STEP_PRELOAD = ("dagster._core.executor.multiprocess", "orchestration.step_preload")

#: How often a celery run checks its steps (dagster_celery's default is 1 s).
CELERY_POLL_SECONDS = 0.05


def _forkserver_by_default(config: dict) -> dict:
    config = dict(config)
    if not config.get("start_method"):
        config["start_method"] = {"forkserver": {"preload_modules": list(STEP_PRELOAD)}}
    return config


#: Dagster's multiprocess executor, its config schema unchanged (max_concurrent,
#: tag_concurrency_limits, retries, start_method), forkserver unless the run says.
multiprocess_forkserver_executor = dg.multiprocess_executor.configured(
    _forkserver_by_default,
    name="multiprocess",
    config_schema=dg.multiprocess_executor.config_schema.as_field(),
)


def build_executor() -> dg.ExecutorDefinition:
    """``DATABOX_EXECUTOR=in_process`` runs every step in the run's process (the laptop
    profile: no process per step); the default multiprocess executor isolates steps;
    ``celery`` (the production topology, deploy/production) sends each step to the
    Celery workers listening on CELERY_BROKER_URL."""
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
    return multiprocess_forkserver_executor
