"""The production topology's processes, defined once.

``databox deploy up`` starts exactly these commands, and deploy/production/compose.yaml
runs exactly these commands as its services (tests/test_deploy_files.py holds them
equal). Commands name the programs (``dagster``, ``celery``) as a container's PATH
has them; ``up`` resolves them in this virtualenv.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from databox.config import resolve_path

#: Relative to the repository root (the working directory of every process).
PRODUCTION_DIR = Path("deploy") / "production"
WORKSPACE = str(PRODUCTION_DIR / "workspace.yaml")
CODE_MODULE = "orchestration.definitions"
LOCATION_NAME = "databox"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
DEFAULT_GRPC_PORT = 4266
DEFAULT_WORKERS = 2


@dataclass(frozen=True)
class Process:
    name: str
    argv: tuple[str, ...]
    #: What ``up`` waits for before it calls the topology ready.
    ready: str  # "grpc" | "http" | "celery" | "none"


def worker_name(index: int) -> str:
    return f"databox-worker-{index}"


def process_list(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int = DEFAULT_WORKERS,
    grpc_port: int = DEFAULT_GRPC_PORT,
) -> list[Process]:
    """The topology: the code server, the webserver, the daemon and ``workers`` celery
    workers (each one step at a time: ``-c 1``, so N workers = N steps in parallel)."""
    procs = [
        # Serves the definitions to the webserver and the daemon, and launches the run
        # workers (DefaultRunLauncher) that hand each step to celery.
        Process(
            "codeserver",
            (
                "dagster",
                "api",
                "grpc",
                "-m",
                CODE_MODULE,
                "-h",
                DEFAULT_HOST,
                "-p",
                str(grpc_port),
                "--location-name",
                LOCATION_NAME,
            ),
            "grpc",
        ),
        Process(
            "webserver", ("dagster-webserver", "-w", WORKSPACE, "-h", host, "-p", str(port)), "http"
        ),
        # Schedules, sensors (the alert sensors), the run queue and run monitoring.
        Process("daemon", ("dagster-daemon", "run", "-w", WORKSPACE), "none"),
    ]
    for i in range(1, workers + 1):
        procs.append(
            Process(
                f"worker-{i}",
                (
                    "celery",
                    "-A",
                    "dagster_celery.app",
                    "worker",
                    "-Q",
                    "dagster",
                    "-c",
                    "1",
                    "-n",
                    f"{worker_name(i)}@%h",
                    "-l",
                    "INFO",
                ),
                "celery",
            )
        )
    return procs


def topology_environment(
    base: dict[str, str],
    *,
    dagster_home: Path,
    grpc_port: int = DEFAULT_GRPC_PORT,
    workers: int = DEFAULT_WORKERS,
    cpus: int | None = None,
) -> dict[str, str]:
    """The environment every process shares: one instance (DAGSTER_HOME), the code
    server's address for workspace.yaml, the celery executor and the production profile.
    Secrets (DAGSTER_PG_URL, CELERY_BROKER_URL, DATABASE_URL, tokens) pass through.

    The workers share this host's cores: each gets ``cpus // workers`` onnxruntime
    threads (YOLO_THREADS), since N workers each running one thread per core oversubscribe
    the CPU (measured on 2 cores: 2 × 2 threads detect ~20 % slower than 2 × 1), and the
    enrichment plans a multiple of ``workers`` chunks (ENRICH_WORKERS). Either variable,
    when set, wins."""
    from databox.detect.model import default_threads

    per_worker = max(1, (cpus or default_threads()) // workers)
    production = str(resolve_path(str(PRODUCTION_DIR)))
    pythonpath = [production, *filter(None, [base.get("PYTHONPATH", "")])]
    env = dict(base)
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "DATABOX_GRPC_HOST": DEFAULT_HOST,
            "DATABOX_GRPC_PORT": str(grpc_port),
            "DATABOX_EXECUTOR": "celery",
            "DATABOX_PROFILE": "production",
            # The workers' celery settings (deploy/production/dagster_celery_config.py).
            "PYTHONPATH": ":".join(pythonpath),
            "PYTHONWARNINGS": "ignore:Function `:FutureWarning:click.core",
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1",
            "YOLO_THREADS": base.get("YOLO_THREADS") or str(per_worker),
            "ENRICH_WORKERS": base.get("ENRICH_WORKERS") or str(workers),
        }
    )
    return env
