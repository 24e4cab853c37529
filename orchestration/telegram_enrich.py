"""``enrich_data_yolo`` as a graph: the pending photos in chunks, one step each, so N
workers (multiprocess or celery executor) detect in parallel.

plan_enrich_chunks ──DynamicOutput per chunk (≤ ENRICH_CHUNK_SIZE paths)──▶
detect_chunk (commits part files, no lock) ──▶ collect_enrichment (consolidates the
CSVs once, under the lock; the asset's metadata and annotated previews)

Nothing pending: no chunk step, and the collect step only reports (a fast no-op).
"""

import os
import socket

import dagster as dg

from orchestration.resources import DataLakeResource, DetectorResource
from orchestration.telegram_shared import TELEGRAM_GROUP, TRANSIENT_RETRY, markdown_table

#: Annotated samples previewed in the asset's metadata.
PREVIEWS = 6


def _product_kwargs(detector: DetectorResource) -> dict:
    classes = detector.settings().yolo_product_classes
    return {"product_classes": classes} if classes else {}


@dg.op(
    ins={"start": dg.In(dg.Nothing)},
    out={"plan": dg.Out(dg.Any), "chunks": dg.DynamicOut(list)},
    retry_policy=TRANSIENT_RETRY,
    description="The photos without a result for the current model, in bounded chunks.",
)
def plan_enrich_chunks(
    context: dg.OpExecutionContext, detector: DetectorResource, lake: DataLakeResource
):
    from databox.enrich.chunks import plan_chunks
    from databox.errors import ConfigError

    try:
        settings = detector.settings()  # ENRICH_CHUNK_SIZE/ENRICH_WORKERS validated here
    except ConfigError as exc:  # a setting to fix: retrying cannot help
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    model = detector.detector()  # a missing model fails here with how to obtain one
    size, workers = settings.enrich_chunk_size, settings.enrich_workers
    plan = plan_chunks(lake.lake(), detector.processed(), model, size, workers)
    context.log.info(
        f"{plan.images_pending} of {plan.images_seen} images need detection with "
        f"{plan.model_version}: {len(plan.chunks)} chunk(s) of at most {size} "
        f"for {workers} worker(s)"
    )
    yield dg.Output(plan, "plan", metadata={"chunks": len(plan.chunks)})
    for i, paths in enumerate(plan.chunks):
        yield dg.DynamicOutput(paths, mapping_key=f"chunk_{i:04d}", output_name="chunks")


@dg.op(retry_policy=TRANSIENT_RETRY, out=dg.Out(dg.Any))
def detect_chunk(
    context: dg.OpExecutionContext,
    paths: list,
    detector: DetectorResource,
    lake: DataLakeResource,
):
    """One chunk's photos: detect and commit (a retry does only what was not committed)."""
    from databox.enrich.chunks import enrich_chunk

    where = f"{socket.gethostname()} pid {os.getpid()}"
    context.log.info(f"{len(paths)} photos on {where}")
    # Samples to draw: the first chunk draws the previews, the others one each, so that
    # annotated/ gets a few files per run (as before chunking), not six per chunk.
    first = context.get_mapping_key() == "chunk_0000"
    report = enrich_chunk(
        lake.lake(),
        detector.processed(),
        detector.detector(),
        paths,
        annotate=PREVIEWS if first else 1,
        log=context.log.info,
        **_product_kwargs(detector),
    )
    return dg.Output(
        report,
        metadata={
            "photos": len(paths),
            "images_processed": report.images_processed,
            "images_per_second": round(report.images_per_second, 1),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        },
    )


def _metadata(report, model_family: str, processed) -> dict:
    from databox.enrich.previews import previews_markdown

    metadata: dict = {
        "model_version": report.model_version,
        "model_family": model_family,
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
            markdown_table(rows, ["class", "objects"])
        )
    if report.categories:
        rows = [{"category": k, "images": v} for k, v in report.categories.most_common()]
        metadata["categories"] = dg.MetadataValue.md(markdown_table(rows, ["category", "images"]))
    if report.errors:
        rows = [{"image": p, "error": e} for p, e in report.errors[:20]]
        metadata["errors"] = dg.MetadataValue.md(markdown_table(rows, ["image", "error"]))
    if report.annotated:
        samples = [(path.name, path) for path in report.annotated[:PREVIEWS]]
        metadata["annotated"] = dg.MetadataValue.md(previews_markdown(samples))
    return metadata


@dg.op(retry_policy=TRANSIENT_RETRY)
def collect_enrichment(
    context: dg.OpExecutionContext, plan, reports: list, detector: DetectorResource
):
    """Fold every chunk's parts into the CSVs (once), and report the whole enrichment."""
    from databox.enrich.chunks import finish_chunks

    processed = detector.processed()
    report = finish_chunks(processed, plan, reports, started=plan.started)
    context.log.info(
        f"{report.images_processed} images detected in {len(reports)} chunk(s), "
        f"{report.seconds:.1f} s from planning to consolidation"
    )
    return dg.Output(None, metadata=_metadata(report, plan.model_family, processed))


@dg.graph_asset(
    group_name=TELEGRAM_GROUP,
    kinds={"python", "onnx"},
    ins={"load_raw_data": dg.AssetIn(dagster_type=dg.Nothing)},
    description=(
        "Objects detected by the ONNX YOLO model in every lake photo that has no result "
        "yet for the current model version: data/processed/yolo_detections.csv (one row "
        "per object), yolo_images.csv (status and category per photo), annotated/ samples "
        "(previewed as pictures in the metadata). The photos are detected in chunks of "
        "ENRICH_CHUNK_SIZE (128), one step each, so several workers share the work."
    ),
)
def enrich_data_yolo(load_raw_data):
    plan, chunks = plan_enrich_chunks(start=load_raw_data)
    return collect_enrichment(plan=plan, reports=chunks.map(detect_chunk).collect())


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
                markdown_table(errors[:20], ["image_path", "model_version", "error"])
            ),
        },
    )
