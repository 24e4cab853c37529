"""What the detector returns: plain dataclasses, cheap to build and to serialise."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Status = Literal["ok", "no_objects", "error"]


@dataclass(frozen=True, slots=True)
class Detection:
    """One object, in original-image pixels (after EXIF orientation), clipped to the image."""

    class_id: int
    class_name: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True, slots=True)
class ImageResult:
    """The outcome for one image. ``width``/``height`` are None when it could not be read."""

    path: Path
    width: int | None
    height: int | None
    detections: tuple[Detection, ...] = field(default_factory=tuple)
    status: Status = "no_objects"
    error: str | None = None

    @classmethod
    def from_detections(
        cls, path: Path, width: int, height: int, detections: tuple[Detection, ...]
    ) -> ImageResult:
        status: Status = "ok" if detections else "no_objects"
        return cls(path, width, height, detections, status)

    @classmethod
    def failed(cls, path: Path, error: str) -> ImageResult:
        return cls(path, None, None, (), "error", error)
