"""What ``databox config`` prints: every setting, where its value came from, what it
means in practice (which Telegram source, which detector model), and every problem.

Values are the *effective* ones (relative paths resolved, defaults filled in) and
secrets are shown as ``***``. Each is marked ``default``, ``env`` (the environment
or ``.env``) or ``--demo``; a malformed one is marked ``INVALID`` (its problem is
listed at the end, and the command exits 2).
"""

from __future__ import annotations

from collections.abc import Mapping

from databox.config import ENV_NAMES, Settings, env_getter, project_root, read_settings, redact_url
from databox.config_values import positive_int
from databox.ebird.settings import ENV_NAMES as EBIRD_ENV_NAMES
from databox.ebird.settings import read_ebird_settings, validate_timezone
from databox.errors import ConfigError
from databox.preflight import check_dir, check_warehouse

SECRETS = {"TELEGRAM_API_HASH", "TELEGRAM_SESSION", "EBIRD_API_TOKEN"}
EXECUTORS = ("multiprocess", "in_process")
#: Variables read by the Dagster layer itself (orchestration/), with their defaults.
DAGSTER_DEFAULTS = {
    "DAGSTER_HOME": "(unset: Dagster's temporary instance)",
    "DATABOX_EXECUTOR": "multiprocess",
    "TELEGRAM_SCHEDULE_CRON": "0 3 * * *",
    "TELEGRAM_SCHEDULE_TIMEZONE": "UTC",
    "EBIRD_SENSOR_INTERVAL_SECONDS": "900",
    "EBIRD_HISTORY_START": "2025-01-01",
}


def config_report(env: Mapping[str, str], demo_vars: set[str]) -> tuple[list[str], list[str]]:
    """(lines to print, problems) for ``env``; ``demo_vars`` came from ``--demo``."""
    get = env_getter(env)
    settings, problems = read_settings(env)
    ebird, ebird_problems = read_ebird_settings(env)
    problems += ebird_problems

    def row(var: str, value: object) -> str:
        source = "--demo" if var in demo_vars else "env" if get(var) else "default"
        if any(p.startswith((f"{var}=", f"{var} ")) for p in problems):
            value, source = (redact_url(get(var) or "") if var not in SECRETS else "***"), "INVALID"
        return f"  {var:<30} {value}  [{source}]"

    values = {**_shown_values(settings), "DLT_DATA_DIR": ebird.dlt_data_dir}
    lines = [f"project root: {project_root()}", ""]
    lines.append("Storage")
    for var in ("DATABASE_URL", "DATA_LAKE_DIR", "PROCESSED_DATA_DIR", "DLT_DATA_DIR"):
        lines.append(row(var, values[var]))
    lines += ["", "Telegram"]
    lines += [row(v, values[v]) for v in ENV_NAMES.values() if v.startswith("TELEGRAM_")]
    lines.append(f"  source: {_telegram_source(settings, problems)}")
    lines += ["", "Object detection"]
    lines += [row(v, values[v]) for v in ENV_NAMES.values() if v.startswith(("YOLO_", "ENRICH_"))]
    model_line, model_problem = _detector_model(settings)
    lines.append(f"  model: {model_line}")
    problems += model_problem
    lines += ["", "eBird"]
    shown_ebird = {**ebird.redacted(), "api_token": "***" if ebird.api_token else "(unset)"}
    for field, var in EBIRD_ENV_NAMES.items():
        if var != "DLT_DATA_DIR":
            value = shown_ebird[field]
            lines.append(row(var, ",".join(value) if isinstance(value, tuple) else value))
    lines += ["", "Dagster"]
    problems += _dagster_problems(env)
    for var, default in DAGSTER_DEFAULTS.items():
        lines.append(row(var, get(var) or default))
    # The things the settings name: directories usable, warehouse reachable.
    problems += check_dir("DATA_LAKE_DIR", settings.data_lake_dir, "data/lake")
    problems += check_dir("PROCESSED_DATA_DIR", settings.processed_dir, "data/processed")
    problems += check_dir("DLT_DATA_DIR", ebird.dlt_data_dir, "data/dlt")
    problems += check_warehouse(settings.database_url, create=True)
    return lines, problems


def _shown_values(settings: Settings) -> dict[str, object]:
    from databox.detect.categorise import DEFAULT_PRODUCT_CLASSES
    from databox.detect.model import default_threads

    shown: dict[str, object] = {}
    for field, value in settings.redacted().items():
        if isinstance(value, tuple):
            value = ",".join(value)
        shown[ENV_NAMES[field]] = "(unset)" if value in (None, "") else value
    if not settings.yolo_product_classes:
        shown["YOLO_PRODUCT_CLASSES"] = ",".join(sorted(DEFAULT_PRODUCT_CLASSES))
    if settings.yolo_model is None:
        shown["YOLO_MODEL"] = "(unset: the default locations)"
    if settings.yolo_threads is None:
        shown["YOLO_THREADS"] = f"{default_threads()} (one per core)"
    return shown


def _telegram_source(settings: Settings, problems: list[str]) -> str:
    if settings.telethon_configured:
        return (
            f"Telethon (a user session, api_id {settings.telegram_api_id}); the web preview "
            "is not used"
        )
    web = f"the public web preview, {settings.telegram_web_base_url}/s/<channel>"
    if any(p.startswith("Telethon needs") or p.startswith("TELEGRAM_API_ID=") for p in problems):
        return f"{web} (the Telethon credentials are incomplete or malformed: see below)"
    return (
        f"{web} (Telethon is used when TELEGRAM_API_ID, TELEGRAM_API_HASH and "
        "TELEGRAM_SESSION are all set)"
    )


def _detector_model(settings: Settings) -> tuple[str, list[str]]:
    """(what to print about the model, problems): the model actually found and where
    it came from; a YOLO_MODEL that points nowhere is a problem, no model at all is
    not (detection steps then fail with how to get one; the demo skips them)."""
    import os

    from databox.detect.model import DEFAULT_MODEL_PATH, resolve_model_path

    try:
        path = resolve_model_path(settings.yolo_model)
    except ConfigError as exc:
        first = str(exc).splitlines()[0]
        if settings.yolo_model:
            return f"none: {first}", [f"YOLO_MODEL={settings.yolo_model}: {first}"]
        return f"none found: {first} (the detection steps need one)", []
    shared = os.environ.get("DATABOX_SHARED_DIR")
    if settings.yolo_model:
        origin = "from YOLO_MODEL"
    elif path == project_root() / DEFAULT_MODEL_PATH:
        origin = f"found at the default location <project root>/{DEFAULT_MODEL_PATH}"
    elif shared and path.is_relative_to(shared):
        origin = "found under DATABOX_SHARED_DIR"
    else:
        origin = "found in the shared models folder beside the checkout, ../shared/models/"
    return f"{path} ({origin})", []


def _dagster_problems(env: Mapping[str, str]) -> list[str]:
    """Variables the Dagster layer reads when it loads: a bad one would stop the code
    location from loading, so say so here first."""
    get = env_getter(env)
    problems = []
    executor = (get("DATABOX_EXECUTOR") or "multiprocess").lower()
    if executor not in EXECUTORS:
        problems.append(
            f"DATABOX_EXECUTOR={executor!r} is not an executor; use multiprocess (the default: "
            "each step in its own process) or in_process"
        )
    try:
        validate_timezone(
            get("TELEGRAM_SCHEDULE_TIMEZONE") or "UTC", var="TELEGRAM_SCHEDULE_TIMEZONE"
        )
    except ConfigError as exc:
        problems += exc.problems
    try:
        positive_int(env, "EBIRD_SENSOR_INTERVAL_SECONDS", 900)
    except ConfigError as exc:
        problems += exc.problems
    return problems
