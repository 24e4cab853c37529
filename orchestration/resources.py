"""Dagster resources: configuration from the environment through ``EnvVar``.

A value that comes from an environment variable is passed as ``EnvVar(name)``, so
the UI's resource config shows the variable's *name*, never its value; secrets
(API hash, session string, a database password inside DATABASE_URL) stay out of
the UI and the logs. Each resource turns its fields back into a validated
``databox.config.Settings`` so there is one place that validates configuration.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from databox.config import DEFAULT_CHANNELS, DEFAULT_DATABASE_URL, Settings
from databox.lake import DataLake


def env_or_default(name: str, default: Any) -> Any:
    """``EnvVar(name)`` when the variable is set (read at run time), else the default."""
    return dg.EnvVar(name) if os.environ.get(name, "").strip() else default


class WarehouseResource(dg.ConfigurableResource):
    """The analytical warehouse: DuckDB file (laptop) or PostgreSQL (production)."""

    database_url: str = DEFAULT_DATABASE_URL

    def settings(self) -> Settings:
        return Settings.from_env({"DATABASE_URL": self.database_url})

    def connect(self):
        from databox.warehouse import connect

        return connect(self.settings().database_url)


class DataLakeResource(dg.ConfigurableResource):
    """The local data lake directory (raw JSON, photos, scrape state)."""

    path: str = "data/lake"

    def lake(self) -> DataLake:
        return DataLake(Settings.from_env({"DATA_LAKE_DIR": self.path}).data_lake_dir)


class TelegramResource(dg.ConfigurableResource):
    """Which channels to scrape and how: Telethon with a user session when the three
    credentials are set, the public web preview otherwise."""

    channels: str = ",".join(DEFAULT_CHANNELS)
    web_base_url: str = "https://t.me"
    api_id: str | None = None
    api_hash: str | None = None
    session: str | None = None
    max_flood_wait: int = 300
    concurrency: int = 3

    def settings(
        self, lake: DataLakeResource, warehouse: WarehouseResource | None = None
    ) -> Settings:
        env = {
            "TELEGRAM_CHANNELS": self.channels,
            "TELEGRAM_WEB_BASE_URL": self.web_base_url,
            "TELEGRAM_API_ID": self.api_id or "",
            "TELEGRAM_API_HASH": self.api_hash or "",
            "TELEGRAM_SESSION": self.session or "",
            "TELEGRAM_MAX_FLOOD_WAIT": str(self.max_flood_wait),
            "TELEGRAM_CONCURRENCY": str(self.concurrency),
            "DATA_LAKE_DIR": lake.path,
        }
        if warehouse is not None:
            env["DATABASE_URL"] = warehouse.database_url
        return Settings.from_env(env)


class DetectorResource(dg.ConfigurableResource):
    """The object detector and where its results go. The model is opened once per
    step; ``YOLO_MODEL`` picks it (else the documented default locations)."""

    model_path: str | None = None
    score_threshold: float = 0.3
    iou_threshold: float = 0.45
    product_classes: str = ""
    threads: int | None = None
    processed_dir: str = "data/processed"

    def settings(self) -> Settings:
        return Settings.from_env(
            {
                "YOLO_MODEL": self.model_path or "",
                "YOLO_SCORE_THRESHOLD": str(self.score_threshold),
                "YOLO_IOU_THRESHOLD": str(self.iou_threshold),
                "YOLO_PRODUCT_CLASSES": self.product_classes,
                "YOLO_THREADS": str(self.threads or ""),
                "PROCESSED_DATA_DIR": self.processed_dir,
            }
        )

    def processed(self):
        from databox.enrich.outputs import ProcessedDir

        return ProcessedDir(self.settings().processed_dir)

    def detector(self):
        from databox.detect import Detector

        s = self.settings()
        return Detector(
            s.yolo_model,
            score_threshold=s.yolo_score_threshold,
            iou_threshold=s.yolo_iou_threshold,
            intra_op_threads=s.yolo_threads,
        )


class EbirdResource(dg.ConfigurableResource):
    """The eBird API 2.0 and dlt's pipelines directory. The token is an ``EnvVar``."""

    api_token: str | None = None
    regions: str = "US-NY"
    back_days: int = 14
    api_base_url: str = "https://api.ebird.org/v2"
    dlt_data_dir: str = "data/dlt"

    def settings(self):
        from databox.ebird.settings import ebird_settings_from_env

        return ebird_settings_from_env(
            {
                "EBIRD_API_TOKEN": self.api_token or "",
                "EBIRD_REGIONS": self.regions,
                "EBIRD_BACK_DAYS": str(self.back_days),
                "EBIRD_API_BASE_URL": self.api_base_url,
                "DLT_DATA_DIR": self.dlt_data_dir,
            }
        )


def build_resources() -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(
            database_url=env_or_default("DATABASE_URL", DEFAULT_DATABASE_URL)
        ),
        "lake": DataLakeResource(path=env_or_default("DATA_LAKE_DIR", "data/lake")),
        "telegram": TelegramResource(
            channels=env_or_default("TELEGRAM_CHANNELS", ",".join(DEFAULT_CHANNELS)),
            web_base_url=env_or_default("TELEGRAM_WEB_BASE_URL", "https://t.me"),
            api_id=env_or_default("TELEGRAM_API_ID", None),
            api_hash=env_or_default("TELEGRAM_API_HASH", None),
            session=env_or_default("TELEGRAM_SESSION", None),
            max_flood_wait=int(os.environ.get("TELEGRAM_MAX_FLOOD_WAIT", "300") or 300),
            concurrency=int(os.environ.get("TELEGRAM_CONCURRENCY", "3") or 3),
        ),
        "detector": DetectorResource(
            model_path=env_or_default("YOLO_MODEL", None),
            score_threshold=float(os.environ.get("YOLO_SCORE_THRESHOLD", "0.3") or 0.3),
            iou_threshold=float(os.environ.get("YOLO_IOU_THRESHOLD", "0.45") or 0.45),
            product_classes=os.environ.get("YOLO_PRODUCT_CLASSES", ""),
            threads=int(os.environ["YOLO_THREADS"]) if os.environ.get("YOLO_THREADS") else None,
            processed_dir=env_or_default("PROCESSED_DATA_DIR", "data/processed"),
        ),
        "ebird": EbirdResource(
            api_token=env_or_default("EBIRD_API_TOKEN", None),
            regions=env_or_default("EBIRD_REGIONS", "US-NY"),
            back_days=int(os.environ.get("EBIRD_BACK_DAYS", "14") or 14),
            api_base_url=env_or_default("EBIRD_API_BASE_URL", "https://api.ebird.org/v2"),
            dlt_data_dir=env_or_default("DLT_DATA_DIR", "data/dlt"),
        ),
    }
