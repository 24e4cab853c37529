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

from databox.config_values import (
    Problems,
    env_getter,
    non_negative_int,
    parse_channels,
    positive_float,
    positive_int,
    redact_url,
    telegram_api_id,
    telethon_complete,
    unit_float,
    validate_database_url,
    web_base_url,
)
from databox.errors import ConfigError

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
        "DATABOX_REPORTS_DIR": str(root / "reports"),
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
    #: Photos per ``enrich_data_yolo`` chunk step (at most): ~2.5 s of detection on a
    #: busy worker, so a celery step's ~0.35 s of hand-off and bookkeeping stays near 15 %
    #: (64 photos cost ~25 %), while a day's photos still spread over several workers.
    enrich_chunk_size: int = 128
    #: Steps that can detect at once (celery workers, or multiprocess slots): the plan
    #: cuts a multiple of this many chunks, so no worker idles while another finishes.
    enrich_workers: int = 1

    @property
    def telethon_configured(self) -> bool:
        return bool(self.telegram_api_id and self.telegram_api_hash and self.telegram_session)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Validated settings; a ``ConfigError`` listing *every* problem otherwise."""
        settings, problems = read_settings(env)
        if problems:
            raise ConfigError(*problems)
        return settings

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


#: The environment variable behind each ``Settings`` field (``databox config`` shows them).
ENV_NAMES = {
    "database_url": "DATABASE_URL",
    "data_lake_dir": "DATA_LAKE_DIR",
    "telegram_channels": "TELEGRAM_CHANNELS",
    "telegram_api_id": "TELEGRAM_API_ID",
    "telegram_api_hash": "TELEGRAM_API_HASH",
    "telegram_session": "TELEGRAM_SESSION",
    "telegram_web_base_url": "TELEGRAM_WEB_BASE_URL",
    "telegram_max_flood_wait": "TELEGRAM_MAX_FLOOD_WAIT",
    "telegram_concurrency": "TELEGRAM_CONCURRENCY",
    "telegram_http_connect_timeout": "TELEGRAM_HTTP_CONNECT_TIMEOUT",
    "telegram_http_deadline": "TELEGRAM_HTTP_DEADLINE",
    "telegram_http_retries": "TELEGRAM_HTTP_RETRIES",
    "telegram_max_photo_bytes": "TELEGRAM_MAX_PHOTO_BYTES",
    "processed_dir": "PROCESSED_DATA_DIR",
    "yolo_model": "YOLO_MODEL",
    "yolo_score_threshold": "YOLO_SCORE_THRESHOLD",
    "yolo_iou_threshold": "YOLO_IOU_THRESHOLD",
    "yolo_product_classes": "YOLO_PRODUCT_CLASSES",
    "yolo_threads": "YOLO_THREADS",
    "enrich_chunk_size": "ENRICH_CHUNK_SIZE",
    "enrich_workers": "ENRICH_WORKERS",
}


def read_settings(env: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    """The settings with every malformed value replaced by its default, and one message
    per problem. ``Settings.from_env`` raises on the problems; ``databox config`` shows
    both, so a person sees the whole configuration and everything wrong with it."""
    env = env_or_process(env)
    get = env_getter(env)
    p = Problems()
    d = Settings()  # the defaults

    def number(name: str, parse: Callable, *shown_default: object):
        """A numeric field from its variable; the default when unset or malformed."""
        default = getattr(d, name)
        return p.take(default, parse, env, ENV_NAMES[name], default, *shown_default)

    telethon = {n: get(n) for n in ("TELEGRAM_API_ID", "TELEGRAM_API_HASH", "TELEGRAM_SESSION")}
    p.take(None, telethon_complete, telethon)
    url = p.take(d.database_url, validate_database_url, get("DATABASE_URL") or d.database_url)
    channels = get("TELEGRAM_CHANNELS") or ",".join(DEFAULT_CHANNELS)
    settings = Settings(
        database_url=resolve_database_url(url),
        data_lake_dir=resolve_path(get("DATA_LAKE_DIR") or d.data_lake_dir),
        telegram_channels=p.take(d.telegram_channels, parse_channels, channels),
        telegram_api_id=p.take(None, telegram_api_id, telethon["TELEGRAM_API_ID"]),
        telegram_api_hash=telethon["TELEGRAM_API_HASH"],
        telegram_session=telethon["TELEGRAM_SESSION"],
        telegram_web_base_url=p.take(
            d.telegram_web_base_url, web_base_url, get("TELEGRAM_WEB_BASE_URL")
        ),
        telegram_max_flood_wait=number("telegram_max_flood_wait", positive_int),
        telegram_concurrency=number("telegram_concurrency", positive_int),
        telegram_http_connect_timeout=number("telegram_http_connect_timeout", positive_float),
        telegram_http_deadline=number("telegram_http_deadline", positive_float),
        telegram_http_retries=number("telegram_http_retries", non_negative_int),
        telegram_max_photo_bytes=number("telegram_max_photo_bytes", positive_int),
        processed_dir=resolve_path(get("PROCESSED_DATA_DIR") or d.processed_dir),
        yolo_model=get("YOLO_MODEL"),
        yolo_score_threshold=number("yolo_score_threshold", unit_float),
        yolo_iou_threshold=number("yolo_iou_threshold", unit_float),
        yolo_product_classes=tuple(
            c.strip() for c in (get("YOLO_PRODUCT_CLASSES") or "").split(",") if c.strip()
        ),
        # Unset (None) = one onnxruntime thread per core.
        yolo_threads=p.take(None, positive_int, env, "YOLO_THREADS", None, "one per core"),
        enrich_chunk_size=number("enrich_chunk_size", positive_int),
        enrich_workers=number("enrich_workers", positive_int),
    )
    return settings, p.items
