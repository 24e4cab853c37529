"""Settings read from the environment (and a ``.env`` file when present).

Every setting has one name, one default and one validation, so a typo fails at
start-up with a message naming the variable instead of deep inside a run.
Secrets (API hash, session, tokens, database passwords) are only ever held in
memory; ``Settings.redacted()`` is what may be logged or shown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from databox.errors import ConfigError
from databox.lake import validate_channel

DEFAULT_CHANNELS = ("CheMed123", "lobelia4cosmetics", "tikvahpharma")
DEFAULT_DATA_DIR = Path("data")
DEFAULT_DATABASE_URL = f"duckdb:///{DEFAULT_DATA_DIR / 'warehouse.duckdb'}"
SECRET_FIELDS = ("telegram_api_hash", "telegram_session")


def project_root() -> Path:
    """The directory relative settings are resolved against.

    ``DATABOX_HOME`` when set; else the nearest directory at or above the cwd holding
    ``orchestration/definitions.py`` (so ``cd orchestration && dagster job execute …``
    writes to the same ``data/`` as running from the repository root); else the cwd.
    """
    if os.environ.get("DATABOX_HOME"):
        return Path(os.environ["DATABOX_HOME"]).resolve()
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if (candidate / "orchestration" / "definitions.py").is_file():
            return candidate
    return cwd


def resolve_path(path: Path | str) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


def resolve_database_url(url: str) -> str:
    """Make a relative DuckDB path absolute against the project root."""
    if url.startswith("duckdb:///") and not url.startswith("duckdb:////"):
        return f"duckdb:///{resolve_path(url[len('duckdb:///') :])}"
    return url


#: Where ``databox demo`` keeps its data (relative to the project root).
DEFAULT_DEMO_DIR = Path("data/demo")


def demo_paths(workdir: Path | str = DEFAULT_DEMO_DIR) -> dict[str, str]:
    """The path variables of the demo's data under ``workdir``: one layout shared by
    ``databox demo`` (which writes there) and ``--demo`` on the other commands (which
    read there), so both always agree."""
    root = resolve_path(workdir)
    return {
        "DATABASE_URL": f"duckdb:///{root / 'warehouse.duckdb'}",
        "DATA_LAKE_DIR": str(root / "lake"),
        "PROCESSED_DATA_DIR": str(root / "processed"),
        "DLT_DATA_DIR": str(root / "dlt"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }


def load_dotenv_file(path: Path | None = None) -> None:
    """Load ``.env`` (project root by default) without overriding variables already set."""
    path = path or project_root() / ".env"
    if path.is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


def env_or_process(env: Mapping[str, str] | None) -> Mapping[str, str]:
    """``env`` itself, or the process environment after loading ``.env`` (which never
    overrides a variable that is already set)."""
    if env is None:
        load_dotenv_file()
        return os.environ
    return env


def env_getter(env: Mapping[str, str]) -> Callable[[str], str | None]:
    """``get(name)``: the variable stripped, or None when unset or blank."""

    def get(name: str) -> str | None:
        value = env.get(name)
        return value.strip() if value and value.strip() else None

    return get


def redact_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db``."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def validate_database_url(url: str) -> str:
    url = url.strip()
    scheme = urlsplit(url).scheme
    if scheme == "duckdb":
        if not url.startswith("duckdb:///"):
            raise ConfigError(
                f"DATABASE_URL {url!r}: a DuckDB URL is duckdb:///relative/path.duckdb "
                "or duckdb:////absolute/path.duckdb"
            )
        return url
    if scheme in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        return url
    raise ConfigError(
        f"DATABASE_URL {redact_url(url)!r}: unsupported scheme {scheme!r}; "
        "use duckdb:///path.duckdb or postgresql://user@host:5432/dbname"
    )


def parse_channels(value: str) -> tuple[str, ...]:
    channels = tuple(validate_channel(c) for c in value.split(",") if c.strip())
    if not channels:
        raise ConfigError("TELEGRAM_CHANNELS is empty; give a comma-separated list of channels")
    return channels


def _unit_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number between 0 and 1, got {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be between 0 and 1, got {value}")
    return value


def _int_at_least(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        need = "positive" if minimum == 1 else f"{minimum} or more"
        raise ConfigError(f"{name} must be {need}, got {value}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    return _int_at_least(env, name, default, 1)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _non_negative_int(env: Mapping[str, str], name: str, default: int) -> int:
    return _int_at_least(env, name, default, 0)


#: ``TELEGRAM_MAX_PHOTO_BYTES`` default: 20 MB, well above a t.me photo (at most ~5 MB).
DEFAULT_MAX_PHOTO_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    data_lake_dir: Path = DEFAULT_DATA_DIR / "lake"
    telegram_channels: tuple[str, ...] = DEFAULT_CHANNELS
    telegram_api_id: int | None = None
    telegram_api_hash: str | None = field(default=None, repr=False)
    telegram_session: str | None = field(default=None, repr=False)
    telegram_web_base_url: str = "https://t.me"
    #: Longest FloodWait (seconds) the Telethon source sleeps through before failing the channel.
    telegram_max_flood_wait: int = 300
    #: How many channels are scraped at the same time.
    telegram_concurrency: int = 3
    #: Seconds to open a connection to t.me (or its CDN).
    telegram_http_connect_timeout: float = 10.0
    #: Overall seconds one HTTP request may take, connecting and reading the whole body
    #: (httpx's read timeout is per chunk, so a trickling server would defeat it).
    telegram_http_deadline: float = 30.0
    #: Extra attempts for a request that timed out, lost its connection or got 429/5xx.
    telegram_http_retries: int = 3
    #: A photo larger than this is not downloaded (recorded as a photo error).
    telegram_max_photo_bytes: int = DEFAULT_MAX_PHOTO_BYTES
    #: Where the enrichment writes yolo_detections.csv, yolo_images.csv, annotated/.
    processed_dir: Path = DEFAULT_DATA_DIR / "processed"
    #: The ONNX detector; None = the documented default locations (databox.detect.model).
    yolo_model: str | None = None
    yolo_score_threshold: float = 0.3
    yolo_iou_threshold: float = 0.45
    #: COCO classes that count as "a product" when categorising a photo.
    yolo_product_classes: tuple[str, ...] = ()
    #: onnxruntime intra-op threads; None = one per core.
    yolo_threads: int | None = None

    @property
    def telethon_configured(self) -> bool:
        return bool(self.telegram_api_id and self.telegram_api_hash and self.telegram_session)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = env_or_process(env)
        get = env_getter(env)

        api_id_raw = get("TELEGRAM_API_ID")
        try:
            api_id = int(api_id_raw) if api_id_raw else None
        except ValueError:
            raise ConfigError(
                f"TELEGRAM_API_ID must be the numeric id from my.telegram.org, got {api_id_raw!r}"
            ) from None
        telethon_vars = {
            "TELEGRAM_API_ID": api_id_raw,
            "TELEGRAM_API_HASH": get("TELEGRAM_API_HASH"),
            "TELEGRAM_SESSION": get("TELEGRAM_SESSION"),
        }
        given = [k for k, v in telethon_vars.items() if v]
        if given and len(given) != len(telethon_vars):
            missing = sorted(set(telethon_vars) - set(given))
            raise ConfigError(
                f"Telethon needs TELEGRAM_API_ID, TELEGRAM_API_HASH and TELEGRAM_SESSION together; "
                f"missing {', '.join(missing)}. Create a session with `databox telegram login`, "
                "or unset all three to scrape the public web preview instead."
            )
        base_url = (get("TELEGRAM_WEB_BASE_URL") or "https://t.me").rstrip("/")
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ConfigError(f"TELEGRAM_WEB_BASE_URL must be an http(s) URL, got {base_url!r}")
        return cls(
            database_url=resolve_database_url(
                validate_database_url(get("DATABASE_URL") or DEFAULT_DATABASE_URL)
            ),
            data_lake_dir=resolve_path(get("DATA_LAKE_DIR") or DEFAULT_DATA_DIR / "lake"),
            telegram_channels=parse_channels(
                get("TELEGRAM_CHANNELS") or ",".join(DEFAULT_CHANNELS)
            ),
            telegram_api_id=api_id,
            telegram_api_hash=telethon_vars["TELEGRAM_API_HASH"],
            telegram_session=telethon_vars["TELEGRAM_SESSION"],
            telegram_web_base_url=base_url,
            telegram_max_flood_wait=_positive_int(env, "TELEGRAM_MAX_FLOOD_WAIT", 300),
            telegram_concurrency=_positive_int(env, "TELEGRAM_CONCURRENCY", 3),
            telegram_http_connect_timeout=_positive_float(
                env, "TELEGRAM_HTTP_CONNECT_TIMEOUT", 10.0
            ),
            telegram_http_deadline=_positive_float(env, "TELEGRAM_HTTP_DEADLINE", 30.0),
            telegram_http_retries=_non_negative_int(env, "TELEGRAM_HTTP_RETRIES", 3),
            telegram_max_photo_bytes=_positive_int(
                env, "TELEGRAM_MAX_PHOTO_BYTES", DEFAULT_MAX_PHOTO_BYTES
            ),
            processed_dir=resolve_path(get("PROCESSED_DATA_DIR") or DEFAULT_DATA_DIR / "processed"),
            yolo_model=get("YOLO_MODEL"),
            yolo_score_threshold=_unit_float(env, "YOLO_SCORE_THRESHOLD", 0.3),
            yolo_iou_threshold=_unit_float(env, "YOLO_IOU_THRESHOLD", 0.45),
            yolo_product_classes=tuple(
                c.strip() for c in (get("YOLO_PRODUCT_CLASSES") or "").split(",") if c.strip()
            ),
            yolo_threads=_positive_int(env, "YOLO_THREADS", 0) or None,
        )

    def __repr__(self) -> str:
        # Never print a password or session, even by accident in a traceback or log.
        inner = ", ".join(f"{k}={v!r}" for k, v in self.redacted().items())
        return f"Settings({inner})"

    def redacted(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                value = "***" if value else None
            elif f.name == "database_url":
                value = redact_url(value)
            out[f.name] = value
        return out
