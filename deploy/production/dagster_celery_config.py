"""Celery settings of the Databox workers (``celery -A dagster_celery.app worker``).

dagster_celery's app imports a module named ``dagster_celery_config`` when one is on
the path; the workers get this directory on PYTHONPATH (src/databox/deploy/processes.py,
Dockerfile). The run side (the celery executor in orchestration/definitions.py) reads
the same CELERY_BROKER_URL, so runs and workers always meet on one broker.
"""

import os

from celery.signals import worker_init

#: Required: a worker without a broker would silently wait on amqp://localhost.
broker_url = os.environ["CELERY_BROKER_URL"]
result_backend = "rpc://"
#: A step can run for minutes: a worker takes one at a time, so idle workers get the next.
worker_prefetch_multiplier = 1
broker_connection_retry_on_startup = True
#: A pool process that takes longer than this to report in is killed; the default (4 s)
#: is tight on a busy 2-core host starting the whole topology.
worker_proc_alive_timeout = 30


@worker_init.connect
def _import_the_code_location(**_kwargs) -> None:
    """The definitions imported before the pool forks, not in each worker's first step."""
    from orchestration.celery_worker import warm

    warm()
