"""Finding, identifying and opening the ONNX model. onnxruntime is imported lazily.

Nothing here ever downloads: a missing model is a ``ConfigError`` that says how to
obtain one.
"""

from __future__ import annotations

import ast
import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from databox.detect.decode import yolox_anchor_count
from databox.detect.preprocess import InputSpec
from databox.errors import ConfigError

if TYPE_CHECKING:
    import onnxruntime

Family = Literal["yolox", "ultralytics"]

MODEL_ENV = "YOLO_MODEL"
DEFAULT_MODEL_NAME = "yolox_nano.onnx"
#: Documented default location, relative to the project root.
DEFAULT_MODEL_PATH = Path("models") / DEFAULT_MODEL_NAME
#: Used when the model's input size is dynamic (Ultralytics' default imgsz).
DEFAULT_INPUT_SIZE = 640

HOW_TO_GET_A_MODEL = f"""\
Set {MODEL_ENV}=/path/to/model.onnx, pass the path explicitly, or place the file at
<project root>/{DEFAULT_MODEL_PATH} (or ../shared/models/{DEFAULT_MODEL_NAME} beside the checkout).
Nothing is downloaded automatically. To obtain a model:
  * YOLOX (Apache-2.0, the default family): download yolox_nano.onnx from the releases of
    github.com/Megvii-BaseDetection/YOLOX (or export one with its tools/export_onnx.py).
  * Ultralytics YOLOv8/YOLO11: `pip install ultralytics && yolo export model=yolov8n.pt
    format=onnx`. Note that Ultralytics code and weights are AGPL-3.0 licensed (or a
    commercial licence), which matters if you distribute or serve the result."""


def _shared_model_candidates() -> list[Path]:
    """``<dir>/shared/models/yolox_nano.onnx`` for the cwd, this file and their parents
    (the checkout lives at X/main with X/shared beside it); ``DATABOX_SHARED_DIR`` first."""
    starts = [Path.cwd().resolve(), Path(__file__).resolve().parent]
    found = []
    if os.environ.get("DATABOX_SHARED_DIR"):
        found.append(Path(os.environ["DATABOX_SHARED_DIR"]) / "models" / DEFAULT_MODEL_NAME)
    for start in starts:
        found += [d / "shared" / "models" / DEFAULT_MODEL_NAME for d in (start, *start.parents)]
    return found


def resolve_model_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The model to use: ``explicit``, else ``$YOLO_MODEL``, else the default locations.

    A relative path is resolved against the project root, like every other setting.
    A path that is given (argument or variable) but missing is an error rather than a
    silent fallback to another model.
    """
    from databox.config import project_root  # lazy: keeps `import databox.detect` light

    given = explicit if explicit is not None else os.environ.get(MODEL_ENV) or None
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_absolute():
            path = project_root() / path
        if path.is_file():
            return path
        source = "the model path given" if explicit is not None else MODEL_ENV
        raise ConfigError(f"{source} points to {path}, which does not exist.\n{HOW_TO_GET_A_MODEL}")

    candidates = [project_root() / DEFAULT_MODEL_PATH, *_shared_model_candidates()]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        f"no detection model found (looked at {candidates[0]} and ../shared/models/).\n{HOW_TO_GET_A_MODEL}"
    )


def model_version(path: Path) -> str:
    """``name@sha256[:12]``: names the exact weights, so results can be traced to them."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"{path.name}@{digest.hexdigest()[:12]}"


def default_threads() -> int:
    """CPUs this process may use (respects taskset/cgroup affinity where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def create_session(
    path: Path, intra_op_threads: int | None = None, allow_spinning: bool = False
) -> onnxruntime.InferenceSession:
    """A CPU-only session with deliberate threading.

    ``inter_op`` is 1: these graphs are one sequential chain, extra inter-op threads
    only add scheduling. Spinning is off by default because the decode threads share
    the same cores; a spinning idle ORT worker burns the CPU they need.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if allow_spinning else "0"
    )
    options.log_severity_level = 3  # errors only; ORT's warnings are noise for users
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types; say which file failed
        raise ConfigError(f"{path} is not a loadable ONNX model: {exc}") from exc


def _concrete(shape: list[Any]) -> bool:
    return all(isinstance(d, int) and d > 0 for d in shape)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    family: Family
    input_name: str
    input: InputSpec
    num_classes: int
    batch_size: int | None  # None when the batch dimension is dynamic


def detect_family(
    output_shape: tuple[int, ...], input_hw: tuple[int, int], family: str = "auto"
) -> tuple[Family, int]:
    """(family, number of classes) from a concrete output shape.

    YOLOX: [B, anchors, 5+C] with anchors matching the strides for this input size
    and more anchors than columns. Ultralytics: [B, 4+C, N] with N (boxes) > 4+C.
    The "more rows than columns" test matters for small inputs: a 64×64 YOLOX has 84
    anchors, the same number as an 80-class Ultralytics head has channels.
    An explicit ``family`` is still checked against the shape: a mismatch would
    otherwise decode into confident garbage.
    """
    if family not in ("auto", "yolox", "ultralytics"):
        raise ConfigError(f"family must be 'auto', 'yolox' or 'ultralytics', got {family!r}")
    if len(output_shape) == 3:
        _, rows, cols = output_shape
        if (
            family in ("auto", "yolox")
            and rows == yolox_anchor_count(*input_hw)
            and rows > cols > 5
        ):
            return "yolox", cols - 5
        if family in ("auto", "ultralytics") and cols > rows > 4:
            return "ultralytics", rows - 4
    wanted = "a known family" if family == "auto" else f"a {family} export"
    raise ConfigError(
        f"model output shape {list(output_shape)} for a {input_hw[1]}x{input_hw[0]} input is "
        f"not {wanted}: YOLOX gives [1, anchors, 5+classes], Ultralytics [1, 4+classes, boxes]"
    )


def inspect_session(
    session: onnxruntime.InferenceSession,
    family: str = "auto",
    input_size: int = DEFAULT_INPUT_SIZE,
) -> ModelInfo:
    """Read input size, batch size and family from the graph (probing once if dynamic)."""
    import numpy as np

    inp = session.get_inputs()[0]
    batch, _, height, width = inp.shape
    height = height if isinstance(height, int) and height > 0 else input_size
    width = width if isinstance(width, int) and width > 0 else input_size
    batch_size = batch if isinstance(batch, int) and batch > 0 else None

    out_shape = session.get_outputs()[0].shape
    if not _concrete(out_shape):
        # Dynamic output dims: one dummy run gives the real shape (a few ms, once).
        dummy = np.zeros((batch_size or 1, 3, height, width), dtype=np.float32)
        out_shape = session.run(None, {inp.name: dummy})[0].shape
    detected, num_classes = detect_family(tuple(out_shape), (height, width), family)
    if detected == "yolox":
        spec = InputSpec(height, width, centred=False, bgr=True, scale=1.0)
    else:
        spec = InputSpec(height, width, centred=True, bgr=False, scale=1 / 255)
    return ModelInfo(detected, inp.name, spec, num_classes, batch_size)


def coco_class_names() -> list[str]:
    """The 80 COCO names in darknet spelling, shipped with the package."""
    text = resources.files("databox.detect").joinpath("coco_classes.txt").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_class_names(path: Path) -> list[str]:
    """A classes file: one name per line, line index = class id."""
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read classes file {path}: {exc}") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def names_from_metadata(metadata: dict[str, str]) -> list[str] | None:
    """Ultralytics stores ``names`` as a Python dict literal, e.g. "{0: 'person', ...}"."""
    raw = metadata.get("names")
    if not raw:
        return None
    try:
        value = ast.literal_eval(raw)  # literal_eval: metadata is data, never code
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, dict):
        return [str(value[k]) for k in sorted(value, key=int)]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return None


def class_names_for(
    num_classes: int, metadata: dict[str, str], classes_file: Path | None = None
) -> list[str]:
    """Class names: classes file, else model metadata, else COCO (when 80), else ``classN``."""
    if classes_file is not None:
        names = read_class_names(classes_file)
        if len(names) != num_classes:
            raise ConfigError(
                f"classes file {classes_file} has {len(names)} names; the model has {num_classes} classes"
            )
        return names
    names = names_from_metadata(metadata)
    if names and len(names) == num_classes:
        return names
    if num_classes == 80:
        return coco_class_names()
    return [f"class{i}" for i in range(num_classes)]
