"""One ``Detector`` per process and configuration, reused by every step the process runs.

A celery worker (and the in-process executor) runs many enrichment chunks in one
process. Building a fresh onnxruntime session for each cost more than its ~0.08 s load:
a new session's first inferences run cold, so eight 50-photo chunks took 7.0 s with a
session each and 6.3 s sharing one (measured on 2 cores). The key holds the model
file's identity (path, mtime, size) and the settings, so a replaced model or changed
threshold builds a new session; only the newest is kept, so an old one is freed.
"""

from __future__ import annotations

import os
import threading

from databox.detect.model import resolve_model_path
from databox.detect.pipeline import Detector

_lock = threading.Lock()
_cached: dict[tuple, Detector] = {}


def shared_detector(
    model_path: str | os.PathLike[str] | None = None,
    *,
    score_threshold: float = 0.3,
    iou_threshold: float = 0.45,
    intra_op_threads: int | None = None,
) -> Detector:
    """The process's detector for this model and these settings (built on first use)."""
    path = resolve_model_path(model_path)  # a missing model raises with how to get one
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, score_threshold, iou_threshold,
           intra_op_threads)  # fmt: skip
    with _lock:
        detector = _cached.get(key)
        if detector is None:
            _cached.clear()
            detector = _cached[key] = Detector(
                path,
                score_threshold=score_threshold,
                iou_threshold=iou_threshold,
                intra_op_threads=intra_op_threads,
            )
        return detector
