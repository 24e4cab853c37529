"""The enrichment split into chunks that run as separate steps, on several workers.

``plan_chunks``   what is pending, cut into lists of at most ``chunk_size`` photo paths
``enrich_chunk``  one chunk: re-check, detect, commit part files (no lock: parallel-safe)
``finish_chunks`` the chunks' reports merged, the parts folded into the CSVs (locked)

The chunks of one plan are disjoint, so their part files never hold the same image and
the order in which workers commit does not matter. A chunk re-checks its photos against
what is committed (``pending_photos(only=…)``), so a retried chunk does only what its
first attempt did not commit. Chunks commit without ``writer_lock`` (their part names are
unique, see ``outputs``): holding it would serialise the workers and the parallelism
would be fake. Only ``finish_chunks`` takes it, for the one consolidation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from databox.detect import DEFAULT_PRODUCT_CLASSES, Detector
from databox.enrich.detect_images import DEFAULT_BATCH_SIZE, EnrichReport, detect_and_commit
from databox.enrich.lake_photos import pending_photos
from databox.enrich.outputs import ProcessedDir
from databox.lake import DataLake


@dataclass(frozen=True)
class ChunkPlan:
    model_version: str
    images_seen: int
    chunks: list[list[str]]  # lake-relative photo paths, each pending photo exactly once
    model_family: str = ""
    started: float = 0.0  # time.time() when planned: the chunks may run in other processes

    @property
    def images_pending(self) -> int:
        return sum(len(c) for c in self.chunks)


def split(paths: Sequence[str], chunk_size: int, workers: int = 1) -> list[list[str]]:
    """Consecutive slices of at most ``chunk_size``; sizes differ by at most one, so the
    last step is not a straggler of 1 photo (65 photos: 33 + 32, not 64 + 1). The count
    is a multiple of ``workers`` (when there are enough photos), so N workers finish
    together: 400 photos, 64 at most, 2 workers: 8 chunks of 50, not 7 of 57 (4 on one
    worker, 3 on the other, which then idles for a whole chunk)."""
    if chunk_size < 1 or workers < 1:
        raise ValueError(f"chunk_size and workers must be positive, got {chunk_size}, {workers}")
    if not paths:
        return []
    count = -(-len(paths) // chunk_size)
    count = min(len(paths), -(-count // workers) * workers)
    base, extra = divmod(len(paths), count)
    chunks, start = [], 0
    for i in range(count):
        end = start + base + (1 if i < extra else 0)
        chunks.append(list(paths[start:end]))
        start = end
    return chunks


def plan_chunks(
    lake: DataLake, processed: ProcessedDir, detector: Detector, chunk_size: int, workers: int = 1
) -> ChunkPlan:
    """The pending photos (as ``enrich_images`` would find them) in chunks; none when
    nothing is pending."""
    started = time.time()
    todo, seen = pending_photos(lake, processed, detector.model_version)
    chunks = split([p.rel for p in todo], chunk_size, workers)
    return ChunkPlan(detector.model_version, seen, chunks, detector.family, started)


def enrich_chunk(
    lake: DataLake,
    processed: ProcessedDir,
    detector: Detector,
    paths: Sequence[str],
    *,
    product_classes: Iterable[str] = DEFAULT_PRODUCT_CLASSES,
    annotate: int = 6,
    decode_workers: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    log: Callable[[str], None] = print,
) -> EnrichReport:
    """Detect one chunk's photos that are still pending and commit them as part files.
    ``images_seen`` is the chunk's size; nothing is consolidated here."""
    started = time.perf_counter()
    report = EnrichReport(model_version=detector.model_version)
    todo, report.images_seen = pending_photos(lake, processed, report.model_version, only=paths)
    if len(todo) < len(paths):
        log(f"{len(paths) - len(todo)} of the chunk's {len(paths)} photos were already done")
    detect_and_commit(
        todo, processed, detector, report,
        product_classes=product_classes, annotate=annotate,
        decode_workers=decode_workers, batch_size=batch_size, log=log,
    )  # fmt: skip
    report.seconds = time.perf_counter() - started
    return report


def merge_reports(plan: ChunkPlan, reports: Iterable[EnrichReport], seconds: float) -> EnrichReport:
    """One report for the whole enrichment: the plan's ``images_seen`` (every lake entry),
    the chunks' counts summed, ``seconds`` the wall time from planning to the end."""
    merged = EnrichReport(model_version=plan.model_version, images_seen=plan.images_seen)
    for r in reports:
        if r.model_version != plan.model_version:
            raise ValueError(
                f"a chunk ran model {r.model_version}, the plan was for {plan.model_version}: "
                "the model changed during the run; run the enrichment again"
            )
        merged.images_processed += r.images_processed
        merged.batches_committed += r.batches_committed
        merged.status_counts.update(r.status_counts)
        merged.objects_per_class.update(r.objects_per_class)
        merged.categories.update(r.categories)
        merged.errors += r.errors
        merged.annotated += r.annotated
    merged.seconds = seconds
    return merged


def finish_chunks(
    processed: ProcessedDir,
    plan: ChunkPlan,
    reports: Iterable[EnrichReport],
    *,
    started: float,
    lock_timeout: float = 600.0,
) -> EnrichReport:
    """Merge the chunks' reports and fold every committed part into the CSVs.
    ``started`` is the plan's ``time.time()``: steps may run in other processes."""
    report = merge_reports(plan, reports, 0.0)
    with processed.writer_lock(lock_timeout):
        processed.consolidate()
    report.seconds = time.time() - started
    return report
