"""Raw model output → scored boxes, and class-aware NMS. Pure numpy, no session.

Every function works on one image's output and returns boxes as x1, y1, x2, y2 in
model-input pixels; ``preprocess.Letterbox.to_original`` maps them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

YOLOX_STRIDES = (8, 16, 32)
#: Candidates kept (best first) before NMS, as Ultralytics does: a pathological
#: image with a very low threshold cannot make NMS quadratic in 8400×80 pairs.
MAX_NMS_CANDIDATES = 30000


@dataclass(frozen=True, slots=True)
class Candidates:
    boxes: np.ndarray  # [K, 4] float32, x1 y1 x2 y2 in model-input pixels
    scores: np.ndarray  # [K] float32
    class_ids: np.ndarray  # [K] int64

    def take(self, index: np.ndarray) -> Candidates:
        return Candidates(self.boxes[index], self.scores[index], self.class_ids[index])


def yolox_anchor_count(height: int, width: int) -> int:
    """Rows a YOLOX head emits for this input size (3549 for 416×416)."""
    return sum((height // s) * (width // s) for s in YOLOX_STRIDES)


@lru_cache(maxsize=8)
def yolox_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row cell offsets [N, 2] and strides [N, 1], in the head's row order."""
    offsets, strides = [], []
    for s in YOLOX_STRIDES:
        gh, gw = height // s, width // s
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        offsets.append(np.stack((xs, ys), axis=-1).reshape(-1, 2))
        strides.append(np.full((gh * gw, 1), s))
    grid = np.concatenate(offsets).astype(np.float32)
    stride = np.concatenate(strides).astype(np.float32)
    grid.flags.writeable = stride.flags.writeable = False  # shared by the cache
    return grid, stride


def decode_yolox(pred: np.ndarray, height: int, width: int, score_threshold: float) -> Candidates:
    """``pred`` [N, 5+C]: cx, cy, log w, log h (grid-relative), objectness, C class scores.

    Like the upstream demo's class-aware NMS, every (box, class) pair whose
    objectness × class score passes the threshold is a candidate, so one box can
    be kept for two classes. Only those rows are decoded.
    """
    grid, stride = yolox_grid(height, width)
    if pred.shape[0] != grid.shape[0]:
        raise ValueError(
            f"YOLOX output has {pred.shape[0]} rows but a {width}x{height} input with "
            f"strides {YOLOX_STRIDES} gives {grid.shape[0]}"
        )
    # Class scores are sigmoids (≤ 1), so obj × cls > t needs obj > t: filtering rows
    # on objectness first skips scoring ~3500 × 80 pairs (most of the decode time).
    rows = np.nonzero(pred[:, 4] > score_threshold)[0]
    scores = pred[rows, 4:5] * pred[rows, 5:]
    hit, class_ids = np.nonzero(scores > score_threshold)
    rows = rows[hit]
    p = pred[rows]
    centre = (p[:, 0:2] + grid[rows]) * stride[rows]
    half = np.exp(p[:, 2:4]) * stride[rows] / 2
    boxes = np.concatenate((centre - half, centre + half), axis=1)
    return Candidates(boxes, scores[hit, class_ids], class_ids)


def decode_ultralytics(pred: np.ndarray, score_threshold: float) -> Candidates:
    """``pred`` [4+C, N]: cx, cy, w, h in input pixels, then C class scores (no objectness).

    As in Ultralytics' own NMS (``multi_label=False``), each box keeps its best class.
    """
    class_scores = pred[4:]
    class_ids = class_scores.argmax(axis=0)
    scores = np.take_along_axis(class_scores, class_ids[None], axis=0)[0]
    keep = np.nonzero(scores > score_threshold)[0]
    cx, cy, w, h = pred[:4, keep]
    boxes = np.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), axis=1)
    return Candidates(boxes, scores[keep], class_ids[keep])


def nms(candidates: Candidates, iou_threshold: float, max_detections: int) -> np.ndarray:
    """Greedy per-class NMS; returns indices into ``candidates``, best score first.

    Per-class without a loop over classes: each class is shifted into its own
    coordinate region (the "offset trick"), so boxes of different classes never
    overlap and one pass does all classes. The loop runs once per *kept* box and
    compares it with all remaining ones at once; it stops at ``max_detections``.
    """
    if candidates.scores.size == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(-candidates.scores, kind="stable")[:MAX_NMS_CANDIDATES]
    # float64: offsets of up to 80 × (image span) would eat float32's precision.
    boxes = candidates.boxes[order].astype(np.float64)
    low, span = boxes.min(), boxes.max() - boxes.min() + 1.0
    boxes += (candidates.class_ids[order] * span - low)[:, None]
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1).clip(0) * (y2 - y1).clip(0)

    keep: list[int] = []
    remaining = np.arange(order.size)
    while remaining.size and len(keep) < max_detections:
        best, rest = remaining[0], remaining[1:]
        keep.append(best)
        inter_w = (np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest])).clip(0)
        inter_h = (np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest])).clip(0)
        inter = inter_w * inter_h
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        remaining = rest[iou <= iou_threshold]
    return order[np.asarray(keep, dtype=np.int64)]


def postprocess(
    pred: np.ndarray,
    family: str,
    input_hw: tuple[int, int],
    score_threshold: float,
    iou_threshold: float,
    max_detections: int,
) -> Candidates:
    """One image's raw output → final detections (model-input pixels), best first."""
    if family == "yolox":
        found = decode_yolox(pred, input_hw[0], input_hw[1], score_threshold)
    elif family == "ultralytics":
        found = decode_ultralytics(pred, score_threshold)
    else:
        raise ValueError(f"unknown model family {family!r}")
    return found.take(nms(found, iou_threshold, max_detections))
