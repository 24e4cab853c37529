"""Dagster resources: configuration from the environment through ``EnvVar``.

A value that comes from an environment variable is passed as ``EnvVar(name)``, so
the UI's resource config shows the variable's *name*, never its value; secrets
(API hash, session string, a database password inside DATABASE_URL) stay out of
the UI and the logs.

Nothing is parsed when the definitions load: ``build_resources()`` only passes the
variables through as text (``None``: unset, the default applies), so a typo such as
``TELEGRAM_CONCURRENCY=abc`` cannot stop the code location from loading. Each
resource turns its fields back into validated ``databox.config`` settings when a
step uses it (the same validation as the CLI: one source of truth), together with
the up-front checks of what the step touches (the lake directory, the processed and
dlt directories, the warehouse). A problem fails that step with a ``ConfigError``
naming every variable that is wrong, its value and the fix.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from databox.config import DEFAULT_DATABASE_URL, Settings
from databox.lake import DataLake
from databox.preflight import check_dir, check_warehouse, require


def env_or_default(name: str, default: Any = None) -> Any:
    """``EnvVar(name)`` when the variable is set (read at run time), else the default."""
    return dg.EnvVar(name) if os.environ.get(name, "").strip() else default


def _settings(values: dict[str, str | None]) -> Settings:
    """Settings from the variables given (unset ones take their defaults)."""
    return Settings.from_env({k: v for k, v in values.items() if v is not None})


class WarehouseResource(dg.ConfigurableResource):
    """The analytical warehouse: DuckDB file (laptop) or PostgreSQL (production)."""

    database_url: str = DEFAULT_DATABASE_URL

    def settings(self) -> Settings:
        """The validated URL, after checking that the warehouse can be opened (DuckDB:
        the file is a database or can be created; PostgreSQL: the server accepts us),
        so a step fails before its work with where it tried and why."""
        settings = _settings({"DATABASE_URL": self.database_url})
        require(check_warehouse(settings.database_url, create=True))
        return settings

    def connect(self):
        from databox.warehouse import connect

        return connect(self.settings().database_url)


class DataLakeResource(dg.ConfigurableResource):
    """The local data lake directory (raw JSON, photos, scrape state)."""

    path: str = "data/lake"

    def lake(self, must_exist: bool = False) -> DataLake:
        """The lake, checked: a directory that can be written (created when missing,
        unless ``must_exist``: a step that only reads it would otherwise see an empty
        lake where a typo'd path is)."""
        root = _settings({"DATA_LAKE_DIR": self.path}).data_lake_dir
        require(
            check_dir(
                "DATA_LAKE_DIR",
                root,
                "data/lake",
                mode="update" if must_exist else "write",
                hint="nothing has been scraped there: check for a typo, or scrape first",
            )
        )
        return DataLake(root)


class TelegramResource(dg.ConfigurableResource):
    """Which channels to scrape and how: Telethon with a user session when the three
    credentials are set, the public web preview otherwise. Every field is the text
    of its variable (None: unset, the default applies)."""

    channels: str | None = None
    web_base_url: str | None = None
    api_id: str | None = None
    api_hash: str | None = None
    session: str | None = None
    max_flood_wait: str | None = None
    concurrency: str | None = None
    http_connect_timeout: str | None = None
    http_deadline: str | None = None
    http_retries: str | None = None
    max_photo_bytes: str | None = None

    def settings(
        self, lake: DataLakeResource, warehouse: WarehouseResource | None = None
    ) -> Settings:
        values = {
            "TELEGRAM_CHANNELS": self.channels,
            "TELEGRAM_WEB_BASE_URL": self.web_base_url,
            "TELEGRAM_API_ID": self.api_id,
            "TELEGRAM_API_HASH": self.api_hash,
            "TELEGRAM_SESSION": self.session,
            "TELEGRAM_MAX_FLOOD_WAIT": self.max_flood_wait,
            "TELEGRAM_CONCURRENCY": self.concurrency,
            "TELEGRAM_HTTP_CONNECT_TIMEOUT": self.http_connect_timeout,
            "TELEGRAM_HTTP_DEADLINE": self.http_deadline,
            "TELEGRAM_HTTP_RETRIES": self.http_retries,
            "TELEGRAM_MAX_PHOTO_BYTES": self.max_photo_bytes,
            "DATA_LAKE_DIR": lake.path,
            "DATABASE_URL": warehouse.database_url if warehouse is not None else None,
        }
        return _settings(values)


class DetectorResource(dg.ConfigurableResource):
    """The object detector and where its results go. The model is opened once per
    process (databox.detect.shared) and reused by its steps; ``YOLO_MODEL`` picks it
    (else the documented default locations)."""

    model_path: str | None = None
    score_threshold: str | None = None
    iou_threshold: str | None = None
    product_classes: str | None = None
    threads: str | None = None
    processed_dir: str = "data/processed"
    chunk_size: str | None = None
    workers: str | None = None

    def settings(self) -> Settings:
        return _settings(
            {
                "YOLO_MODEL": self.model_path,
                "YOLO_SCORE_THRESHOLD": self.score_threshold,
                "YOLO_IOU_THRESHOLD": self.iou_threshold,
                "YOLO_PRODUCT_CLASSES": self.product_classes,
                "YOLO_THREADS": self.threads,
                "PROCESSED_DATA_DIR": self.processed_dir,
                "ENRICH_CHUNK_SIZE": self.chunk_size,
                "ENRICH_WORKERS": self.workers,
            }
        )

    def processed(self):
        from databox.enrich.outputs import ProcessedDir

        path = self.settings().processed_dir
        require(check_dir("PROCESSED_DATA_DIR", path, "data/processed"))
        return ProcessedDir(path)

    def detector(self):
        # Shared per process: a celery worker runs many chunk steps, one session serves all.
        from databox.detect.shared import shared_detector

        s = self.settings()
        return shared_detector(
            s.yolo_model,
            score_threshold=s.yolo_score_threshold,
            iou_threshold=s.yolo_iou_threshold,
            intra_op_threads=s.yolo_threads,
        )


class EbirdResource(dg.ConfigurableResource):
    """The eBird API 2.0 and dlt's pipelines directory. The token is an ``EnvVar``."""

    api_token: str | None = None
    regions: str | None = None
    back_days: str | None = None
    daily_historic_days: str | None = None
    api_base_url: str | None = None
    dlt_data_dir: str | None = None

    def settings(self):
        """The validated eBird settings, after checking that dlt's directory can be
        written."""
        from databox.ebird.settings import ebird_settings_from_env

        values = {
            "EBIRD_API_TOKEN": self.api_token,
            "EBIRD_REGIONS": self.regions,
            "EBIRD_BACK_DAYS": self.back_days,
            "EBIRD_DAILY_HISTORIC_DAYS": self.daily_historic_days,
            "EBIRD_API_BASE_URL": self.api_base_url,
            "DLT_DATA_DIR": self.dlt_data_dir,
        }
        settings = ebird_settings_from_env({k: v for k, v in values.items() if v is not None})
        require(check_dir("DLT_DATA_DIR", settings.dlt_data_dir, "data/dlt"))
        return settings


def build_resources() -> dict[str, Any]:
    """The resources of the code location. Runs when the definitions load, so it must
    never raise: nothing is parsed here (see the module docstring)."""
    return {
        "warehouse": WarehouseResource(
            database_url=env_or_default("DATABASE_URL", DEFAULT_DATABASE_URL)
        ),
        "lake": DataLakeResource(path=env_or_default("DATA_LAKE_DIR", "data/lake")),
        "telegram": TelegramResource(
            channels=env_or_default("TELEGRAM_CHANNELS"),
            web_base_url=env_or_default("TELEGRAM_WEB_BASE_URL"),
            api_id=env_or_default("TELEGRAM_API_ID"),
            api_hash=env_or_default("TELEGRAM_API_HASH"),
            session=env_or_default("TELEGRAM_SESSION"),
            max_flood_wait=env_or_default("TELEGRAM_MAX_FLOOD_WAIT"),
            concurrency=env_or_default("TELEGRAM_CONCURRENCY"),
            http_connect_timeout=env_or_default("TELEGRAM_HTTP_CONNECT_TIMEOUT"),
            http_deadline=env_or_default("TELEGRAM_HTTP_DEADLINE"),
            http_retries=env_or_default("TELEGRAM_HTTP_RETRIES"),
            max_photo_bytes=env_or_default("TELEGRAM_MAX_PHOTO_BYTES"),
        ),
        "detector": DetectorResource(
            model_path=env_or_default("YOLO_MODEL"),
            score_threshold=env_or_default("YOLO_SCORE_THRESHOLD"),
            iou_threshold=env_or_default("YOLO_IOU_THRESHOLD"),
            product_classes=env_or_default("YOLO_PRODUCT_CLASSES"),
            threads=env_or_default("YOLO_THREADS"),
            processed_dir=env_or_default("PROCESSED_DATA_DIR", "data/processed"),
            chunk_size=env_or_default("ENRICH_CHUNK_SIZE"),
            workers=env_or_default("ENRICH_WORKERS"),
        ),
        "ebird": EbirdResource(
            api_token=env_or_default("EBIRD_API_TOKEN"),
            regions=env_or_default("EBIRD_REGIONS"),
            back_days=env_or_default("EBIRD_BACK_DAYS"),
            daily_historic_days=env_or_default("EBIRD_DAILY_HISTORIC_DAYS"),
            api_base_url=env_or_default("EBIRD_API_BASE_URL"),
            dlt_data_dir=env_or_default("DLT_DATA_DIR"),
        ),
    }
