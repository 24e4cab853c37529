"""``Detector``: model + preprocessing + decode, and the streaming ``detect_paths``."""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from databox.detect.decode import postprocess
from databox.detect.model import (
    DEFAULT_INPUT_SIZE,
    class_names_for,
    create_session,
    inspect_session,
    model_version,
    resolve_model_path,
)
from databox.detect.preprocess import Letterbox, letterbox, load_image
from databox.detect.result import Detection, ImageResult
from databox.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Prepared:
    """One image ready for the model, or the reason it could not be read."""

    path: Path
    tensor: np.ndarray | None = None  # [3, H, W] float32
    letterbox: Letterbox | None = None
    error: str | None = None


class Detector:
    """An object detector over one ONNX model (YOLOX or Ultralytics export).

    Thresholds follow the YOLOX demo: score = objectness × class ≥ 0.3, per-class
    NMS at IoU 0.45; at most ``max_detections`` per image.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        family: str = "auto",
        score_threshold: float = 0.3,
        iou_threshold: float = 0.45,
        max_detections: int = 100,
        classes_file: str | os.PathLike[str] | None = None,
        intra_op_threads: int | None = None,
        allow_spinning: bool = False,
        input_size: int = DEFAULT_INPUT_SIZE,
    ):
        if not 0.0 <= score_threshold <= 1.0 or not 0.0 <= iou_threshold <= 1.0:
            raise ConfigError(
                f"thresholds must be in [0, 1], got score={score_threshold}, iou={iou_threshold}"
            )
        if max_detections < 1:
            raise ConfigError(f"max_detections must be positive, got {max_detections}")
        if ImageFile.LOAD_TRUNCATED_IMAGES:
            # Another library flipped Pillow's global: truncated files would be padded
            # grey and "detected" instead of reported. We do not flip it back under them.
            warnings.warn(
                "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True: truncated images will not be reported as errors",
                stacklevel=2,
            )
        self.model_path = resolve_model_path(model_path)
        self.model_version = model_version(self.model_path)
        self.session = create_session(self.model_path, intra_op_threads, allow_spinning)
        self.info = inspect_session(self.session, family, input_size)
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.class_names = class_names_for(
            self.info.num_classes, metadata, Path(classes_file) if classes_file else None
        )
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections

    @property
    def family(self) -> str:
        return self.info.family

    @property
    def input_hw(self) -> tuple[int, int]:
        return self.info.input.height, self.info.input.width

    # -- the three stages; detect_paths runs them overlapped -------------------------

    def prepare(self, path: str | os.PathLike[str]) -> Prepared:
        """Read and letterbox one file. Never raises for a bad file: the error is kept."""
        path = Path(path)
        try:
            img, width, height = load_image(path, self.input_hw)
            return self.prepare_image(img, path, width, height)
        except Exception as exc:  # any unreadable file is data, not a crash
            return Prepared(path, error=f"{path}: cannot read image: {type(exc).__name__}: {exc}")

    def prepare_image(
        self, img: Image.Image, path: Path, width: int | None = None, height: int | None = None
    ) -> Prepared:
        """Letterbox an already decoded RGB image (``width``/``height``: original size)."""
        tensor, box = letterbox(img, width or img.width, height or img.height, self.info.input)
        return Prepared(path, tensor, box)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Raw model output for a [B, 3, H, W] batch (B must fit the model's batch dim)."""
        raw = self.session.run(None, {self.info.input_name: batch})[0]
        if raw.shape[0] != batch.shape[0]:
            # An export can mark its input dynamic while its graph reshapes to a
            # hard-coded batch of 1: it would silently return one result for B images.
            raise ConfigError(
                f"{self.model_path.name} returned {raw.shape[0]} results for a batch of "
                f"{batch.shape[0]}: its batch dimension is not really dynamic; use batch_size=1"
            )
        return raw

    def to_result(self, raw: np.ndarray, prepared: Prepared) -> ImageResult:
        """One image's raw output → an ImageResult in original-image pixels."""
        assert prepared.letterbox is not None
        found = postprocess(
            raw,
            self.family,
            self.input_hw,
            self.score_threshold,
            self.iou_threshold,
            self.max_detections,
        )
        boxes = prepared.letterbox.to_original(found.boxes)
        detections = tuple(
            Detection(cls, self.class_names[cls], score, x1, y1, x2, y2)
            for cls, score, (x1, y1, x2, y2) in zip(
                found.class_ids.tolist(), found.scores.tolist(), boxes.tolist(), strict=True
            )
            if x2 > x1 and y2 > y1  # a box wholly inside the padding clips to nothing
        )
        box = prepared.letterbox
        return ImageResult.from_detections(prepared.path, box.width, box.height, detections)

    # -- convenience entry points -----------------------------------------------------

    def detect_image(
        self, image: Image.Image | np.ndarray, path: str | os.PathLike[str] = "<memory>"
    ) -> ImageResult:
        """Detect in an in-memory image (PIL image or H×W×3 uint8 RGB array).

        The image is taken as it is: EXIF orientation is applied only when reading files.
        """
        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        prepared = self.prepare_image(image.convert("RGB"), Path(path))
        return next(iter(self._run_batch([prepared])))

    def detect_path(self, path: str | os.PathLike[str]) -> ImageResult:
        return next(iter(self._run_batch([self.prepare(path)])))

    def detect_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        batch_size: int = 1,
        decode_workers: int = 2,
    ) -> Iterator[ImageResult]:
        """Stream results for ``paths``, in input order.

        Decoding and letterboxing run in ``decode_workers`` threads while the model
        runs on earlier images. At most a small, fixed window of prepared images is
        in flight, so memory stays flat however long ``paths`` is (it is consumed
        lazily and may be a generator).

        ``batch_size`` applies only to models with a dynamic batch dimension; a
        fixed-batch model (the shared YOLOX: 1) always gets its own. The default is 1
        because on CPU it measured fastest: onnxruntime already spreads one image over
        all cores, and a larger batch makes inference wait for the whole batch to be
        decoded, which undoes the overlap (YOLOX-Nano with a dynamic batch, 2 cores:
        batch 8 ran at ~0.6-0.8x the images/s of batch 1).
        """
        batch = self.info.batch_size or max(1, batch_size)
        window = max(2 * batch, 2 * decode_workers)  # enough queued work to never starve
        source = iter(paths)
        pending: deque[Future[Prepared]] = deque()
        with ThreadPoolExecutor(max(1, decode_workers), thread_name_prefix="detect-decode") as pool:

            def top_up() -> None:
                while len(pending) < window:
                    path = next(source, None)
                    if path is None:
                        return
                    pending.append(pool.submit(self.prepare, path))

            try:
                top_up()
                while pending:
                    items = [pending.popleft().result() for _ in range(min(batch, len(pending)))]
                    top_up()  # queue the next images before the model blocks this thread
                    yield from self._run_batch(items)
            finally:
                # The consumer may stop early (break, exception): drop queued work.
                for future in pending:
                    future.cancel()

    def _run_batch(self, items: list[Prepared]) -> list[ImageResult]:
        """Infer the readable items in one session call; keep errors in place."""
        ok = [p for p in items if p.tensor is not None]
        outputs: dict[int, np.ndarray] = {}
        if ok:
            tensors = [p.tensor for p in ok]
            fixed = self.info.batch_size
            if fixed and len(tensors) < fixed:  # a fixed batch > 1: pad the last one
                tensors += [np.zeros_like(tensors[0])] * (fixed - len(tensors))
            raw = self.infer(tensors[0][None] if len(tensors) == 1 else np.stack(tensors))
            outputs = {id(p): raw[i] for i, p in enumerate(ok)}
        return [
            self.to_result(outputs[id(p)], p)
            if p.tensor is not None
            else ImageResult.failed(p.path, p.error or "")
            for p in items
        ]
