"""Telegram pipeline assets:
``scrape_telegram`` → ``load_raw_data`` → ``enrich_data_yolo`` → ``load_yolo_detections``.

Each asset calls one application function and turns its report into Dagster
metadata. A step that did not do all of its work fails the run (after keeping
whatever it could): partial success is never shown green.
"""

import dagster as dg

from orchestration.resources import (
    DataLakeResource,
    DetectorResource,
    TelegramResource,
    WarehouseResource,
)

TELEGRAM_GROUP = "telegram"

# Transient failures (network, database restart) are retried with backoff; a
# permanent one (a channel without a preview, bad data) raises Failure(allow_retries=False).
TRANSIENT_RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)

#: Pool for the Telegram API (throttles scrapes across runs: `dagster/concurrency_key`).
TELEGRAM_POOL = "telegram_api"
#: Pool for steps that write the warehouse. DuckDB admits one writer process; the
#: shipped dagster.yaml limits every pool to 1 and the adapter also holds a file lock.
WAREHOUSE_POOL = "warehouse"


def _markdown_table(rows: list[dict], columns: list[str]) -> str:
    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        text = text.replace("\n", " ").replace("|", "\\|")
        return text[:80] + ("…" if len(text) > 80 else "")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


@dg.asset(
    group_name=TELEGRAM_GROUP,
    kinds={"python", "telegram"},
    pool=TELEGRAM_POOL,
    retry_policy=TRANSIENT_RETRY,
    description=(
        "New messages and photos of each configured Telegram channel, scraped into the "
        "data lake (raw/telegram_messages/YYYY-MM-DD/<channel>.json, raw/images/…) "
        "above each channel's watermark: posts of every kind (text, photos, albums, videos, "
        "voice, stickers, polls, locations, ...) and service messages (kept, never counted "
        "as posts). Photos that fail to download are recorded on their message and retried."
    ),
)
def scrape_telegram(
    context: dg.AssetExecutionContext, telegram: TelegramResource, lake: DataLakeResource
) -> dg.MaterializeResult:
    from databox.errors import ChannelUnavailable
    from databox.telegram.scrape import scrape_channels

    settings = telegram.settings(lake)
    data_lake = lake.lake()
    data_lake.warn = context.log.warning  # recoveries from damaged state files, in the run log
    context.log.info(
        f"scraping {len(settings.telegram_channels)} channels via "
        f"{'Telethon' if settings.telethon_configured else settings.telegram_web_base_url + '/s/'}"
    )
    report = scrape_channels(settings, data_lake, log=context.log.info)
    rows = [
        {
            "channel": c.channel,
            # Service messages (channel created, pinned, ...) are kept but are not posts.
            "new_posts": c.posts,
            "service_messages": c.service_messages,
            "images": c.images,
            "photos_failed": c.photos_failed,
            "photos_pending": c.photos_pending,
            "watermark": f"{c.watermark_before} → {c.watermark_after}",
            "seconds": round(c.seconds, 2),
            "error": c.error,
        }
        for c in report.channels
    ]
    metadata = {
        "source": report.source,
        "new_posts": report.posts,
        "new_service_messages": report.service_messages,
        "new_images": report.images,
        "photos_failed": report.photos_failed,
        "photos_pending": report.photos_pending,
        "seconds": round(report.seconds, 2),
        "channels": dg.MetadataValue.md(_markdown_table(rows, list(rows[0]) if rows else [])),
        "lake": dg.MetadataValue.path(str(data_lake.root)),
        **{f"posts/{c.channel}": c.posts for c in report.channels},
    }
    if report.photos_pending:
        context.log.warning(
            f"{report.photos_pending} photo(s) could not be downloaded; their messages are in "
            "the lake with photo_status/photo_errors and the next runs retry them"
        )
    if not report.ok:
        # A channel that cannot be read stays unreadable on retry; anything else may be transient.
        # A changed page layout does not change back on retry either, nor does a host that
        # does not resolve or refuses connections within TRANSIENT_RETRY's 10-30 s (the
        # HTTP layer already retried that once): retrying would only make an offline run
        # wait ~3x as long before saying so.
        permanent = report.unreachable or all(
            any(name in (c.error or "") for name in (ChannelUnavailable.__name__, "WebLayoutError"))
            for c in report.failed
        )
        description = report.failure_summary()
        if not report.all_failed:
            description += " They load into the warehouse on the next run."
        if report.hint:
            description += f" {report.hint}"
        raise dg.Failure(description=description, metadata=metadata, allow_retries=not permanent)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name=TELEGRAM_GROUP,
    deps=[scrape_telegram],
    kinds={"python", "sql"},
    pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY,
    description=(
        "Lake JSON files new or changed since the last load, bulk-upserted into "
        "raw.telegram_messages (one row per channel and message id). Malformed files "
        "and records are quarantined in raw.load_errors and fail the step."
    ),
)
def load_raw_data(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, lake: DataLakeResource
) -> dg.MaterializeResult:
    from databox.telegram.load import load_raw_messages

    wh = warehouse.connect()
    report = load_raw_messages(wh, lake.lake(must_exist=True), log=context.log.info)
    preview = (
        wh.query(
            "select channel, message_id, date, views, left(coalesce(text, ''), 80) as text "
            "from raw.telegram_messages order by date desc limit 10"
        )
        if report.rows_inserted + report.rows_updated
        else []
    )
    metadata = {
        "files_seen": report.files_seen,
        "files_loaded": report.files_loaded,
        "files_skipped": report.files_skipped,
        "files_failed": report.files_failed,
        "rows_inserted": report.rows_inserted,
        "rows_updated": report.rows_updated,
        "rows_unchanged": report.rows_unchanged,
        "seconds": round(report.seconds, 3),
        **{f"rows/{channel}": n for channel, n in sorted(report.per_channel.items())},
    }
    if preview:
        metadata["preview"] = dg.MetadataValue.md(
            _markdown_table(preview, ["channel", "message_id", "date", "views", "text"])
        )
    metadata["unresolved_load_errors"] = len(report.errors)
    # Fail on what this run found; problems of earlier runs in files unchanged since
    # keep the check no_unresolved_load_errors red (and `databox load` exiting 1)
    # without failing every later run and blocking the detection of good photos.
    for error in report.earlier_errors[:10]:
        context.log.warning(f"still unresolved: {error}")
    if report.new_errors:
        listed = "; ".join(str(e) for e in report.new_errors[:10])
        raise dg.Failure(
            description=(
                f"{len(report.new_errors)} lake files/records could not be loaded and were "
                f"quarantined (raw.load_errors); everything else was loaded. {listed}"
            ),
            metadata=metadata,
            allow_retries=False,
        )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=load_raw_data,
    description=(
        "Every lake file and record is loaded: nothing waits in raw.load_errors. Stays "
        "failed on later runs until the quarantined file is fixed and reloads cleanly."
    ),
)
def no_unresolved_load_errors(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    from databox.telegram.load import unresolved_load_errors

    unresolved = unresolved_load_errors(warehouse.connect())
    return dg.AssetCheckResult(
        passed=not unresolved,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "unresolved": len(unresolved),
            "errors": dg.MetadataValue.md(
                _markdown_table(unresolved[:20], ["source_file", "record_index", "error"])
            ),
        },
    )


@dg.asset(
    group_name=TELEGRAM_GROUP,
    deps=[load_raw_data],
    kinds={"python", "onnx"},
    retry_policy=TRANSIENT_RETRY,
    description=(
        "Objects detected by the ONNX YOLO model in every lake photo that has no result "
        "yet for the current model version: data/processed/yolo_detections.csv (one row "
        "per object), yolo_images.csv (status and category per photo), annotated/ samples."
    ),
)
def enrich_data_yolo(
    context: dg.AssetExecutionContext, detector: DetectorResource, lake: DataLakeResource
) -> dg.MaterializeResult:
    from databox.enrich.detect_images import enrich_images

    settings = detector.settings()
    model = detector.detector()  # a missing model fails here with how to obtain one
    processed = detector.processed()
    kwargs = (
        {"product_classes": settings.yolo_product_classes} if settings.yolo_product_classes else {}
    )
    report = enrich_images(lake.lake(), processed, model, log=context.log.info, **kwargs)
    metadata: dict = {
        "model_version": report.model_version,
        "model_family": model.family,
        "images_seen": report.images_seen,
        "images_processed": report.images_processed,
        "images_ok": report.status_counts["ok"],
        "images_without_objects": report.status_counts["no_objects"],
        "image_errors": report.status_counts["error"],
        "images_per_second": round(report.images_per_second, 1),
        "batches_committed": report.batches_committed,
        "seconds": round(report.seconds, 2),
        "detections_csv": dg.MetadataValue.path(str(processed.detections_csv)),
    }
    if report.objects_per_class:
        rows = [{"class": k, "objects": v} for k, v in report.objects_per_class.most_common()]
        metadata["objects_per_class"] = dg.MetadataValue.md(
            _markdown_table(rows, ["class", "objects"])
        )
    if report.categories:
        rows = [{"category": k, "images": v} for k, v in report.categories.most_common()]
        metadata["categories"] = dg.MetadataValue.md(_markdown_table(rows, ["category", "images"]))
    if report.errors:
        rows = [{"image": p, "error": e} for p, e in report.errors[:20]]
        metadata["errors"] = dg.MetadataValue.md(_markdown_table(rows, ["image", "error"]))
    for i, path in enumerate(report.annotated):
        metadata[f"annotated_{i + 1}"] = dg.MetadataValue.path(str(path))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=enrich_data_yolo,
    description=(
        "Every lake photo could be read and decoded. A bad entry (corrupt, truncated, "
        "oversized, empty, a directory, a symlink out of the lake) is recorded with status "
        "'error' (and loaded as such) while the others are processed; this check "
        "makes those files visible instead of leaving the run silently green."
    ),
)
def no_image_errors(detector: DetectorResource) -> dg.AssetCheckResult:
    errors = [r for r in detector.processed().read_images() if r["status"] == "error"]
    return dg.AssetCheckResult(
        passed=not errors,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "images_with_errors": len(errors),
            "errors": dg.MetadataValue.md(
                _markdown_table(errors[:20], ["image_path", "model_version", "error"])
            ),
        },
    )


@dg.asset(
    group_name=TELEGRAM_GROUP,
    deps=[enrich_data_yolo],
    kinds={"python", "sql"},
    pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY,
    description=(
        "The detections as rows: raw.image_detections (one per box, in image pixels) and "
        "raw.image_enrichment (status, category and object count per photo), upserted "
        "idempotently per (image, model version)."
    ),
)
def load_yolo_detections(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, detector: DetectorResource
) -> dg.MaterializeResult:
    from databox.enrich.load_detections import detection_summary, load_detections

    wh = warehouse.connect()
    report = load_detections(wh, detector.processed())
    summary = detection_summary(wh)
    rows = [{"class": k, "objects": v} for k, v in list(summary["objects_per_class"].items())[:15]]
    cats = [{"category": k, "images": v} for k, v in summary["images_per_category"].items()]
    return dg.MaterializeResult(
        metadata={
            "images_inserted": report.images_inserted,
            "images_updated": report.images_updated,
            "boxes_inserted": report.boxes_inserted,
            "boxes_updated": report.boxes_updated,
            "boxes_deleted": report.boxes_deleted,
            "seconds": round(report.seconds, 3),
            "objects_per_class": dg.MetadataValue.md(_markdown_table(rows, ["class", "objects"])),
            "images_per_category": dg.MetadataValue.md(
                _markdown_table(cats, ["category", "images"])
            ),
        }
    )
