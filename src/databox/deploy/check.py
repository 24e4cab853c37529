"""``databox deploy check``: can the production topology reach its three services?

The Dagster instance's PostgreSQL (DAGSTER_PG_URL), the Celery broker
(CELERY_BROKER_URL) and the warehouse (DATABASE_URL). Every problem is one located
message (the variable, its value with the password redacted, what failed, the fix);
the CLI prints them all and exits 2. ``deploy up`` runs the same checks first.
"""

from __future__ import annotations

from collections.abc import Mapping

from databox.config_values import redact_url
from databox.preflight import PG_CHECK_TIMEOUT, check_warehouse

BROKER_TIMEOUT = 3.0


def deploy_problems(env: Mapping[str, str]) -> list[str]:
    return [
        *check_instance_db(env.get("DAGSTER_PG_URL", "").strip()),
        *check_broker(env.get("CELERY_BROKER_URL", "").strip()),
        *_check_warehouse(env.get("DATABASE_URL", "").strip()),
    ]


def check_instance_db(url: str) -> list[str]:
    if not url:
        return [
            "DAGSTER_PG_URL is unset: the production Dagster instance keeps its runs, events "
            "and schedules in PostgreSQL; set it, e.g. "
            "DAGSTER_PG_URL=postgresql://dagster:PASSWORD@db-host:5432/dagster"
        ]
    if not url.startswith(("postgresql://", "postgres://")):
        return [f"DAGSTER_PG_URL={redact_url(url)!r}: not a postgresql:// URL"]
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=PG_CHECK_TIMEOUT) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return [
            f"DAGSTER_PG_URL={redact_url(url)!r}: cannot connect to the Dagster instance's "
            f"PostgreSQL: {first}; check that the server runs and the database and role exist"
        ]
    return []


def check_broker(url: str) -> list[str]:
    if not url:
        return [
            "CELERY_BROKER_URL is unset: the celery executor and its workers meet on this "
            "broker; set it, e.g. CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672//"
        ]
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT) as conn:
            # One attempt, bounded: an unreachable broker is reported, not waited for.
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
    except Exception as exc:  # kombu raises transport-specific errors; all mean the same
        return [
            f"CELERY_BROKER_URL={redact_url(url)!r}: cannot connect to the Celery broker "
            f"within {BROKER_TIMEOUT:.0f} s: {type(exc).__name__}: {exc}; check that "
            "RabbitMQ (or Redis) runs there and the user and virtual host exist"
        ]
    return []


def _check_warehouse(url: str) -> list[str]:
    if not url:
        return [
            "DATABASE_URL is unset: production keeps the warehouse in PostgreSQL (every "
            "worker writes to it); set e.g. DATABASE_URL=postgresql://databox@db-host:5432/databox"
        ]
    return check_warehouse(url, create=False)
