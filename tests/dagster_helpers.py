"""Run the Dagster CLI in a subprocess the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGSTER_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


def pipeline_env(
    tmp_path: Path, *, database_url: str, telegram_base_url: str, **extra: str
) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_URL"))}
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "DATABASE_URL": database_url,
            "DATA_LAKE_DIR": str(tmp_path / "lake"),
            "PROCESSED_DATA_DIR": str(tmp_path / "processed"),
            "DATABOX_REPORTS_DIR": str(tmp_path / "reports"),
            "TELEGRAM_WEB_BASE_URL": telegram_base_url,
            "TELEGRAM_CHANNELS": "CheMed123,lobelia4cosmetics",
            "DAGSTER_DISABLE_TELEMETRY": "1",
        }
    )
    env.update(extra)
    return env


def dagster(args: list[str], env: dict[str, str], cwd: Path = REPO_ROOT, timeout: int = 300):
    return subprocess.run(
        [sys.executable, "-m", "dagster", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
