"""What a Databox celery worker does once, at its start, instead of in its first step.

A step sent to a fresh worker used to wait ~3.6 s before it started: the worker
imported the code location (Dagster's definitions, ~2.2 s), then onnxruntime and PIL
(or SQLMesh) in the step. ``warm`` does those imports (orchestration.step_preload, the
same list the multiprocess executor's forkserver loads) in the worker's main process,
before celery forks the pool process that runs the steps, so every step (a restarted
pool process too) finds them loaded. It builds no ONNX session and opens no connection: those must not
cross a fork. Connected from deploy/production/dagster_celery_config.py.
"""

from __future__ import annotations

import time


def warm(log=print) -> float:
    """Import what every step needs; the seconds it took."""
    started = time.perf_counter()
    import orchestration.step_preload  # noqa: F401  (what the forkserver preloads too)
    from orchestration.definitions import defs

    # The job and its plan's building blocks, resolved once (Definitions caches them).
    defs.get_repository_def().get_job("daily_pipeline_job")
    seconds = time.perf_counter() - started
    log(f"databox worker: code location imported in {seconds:.1f} s")
    return seconds
