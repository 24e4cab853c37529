"""The detector on real photos with the real YOLOX-Nano model, plus a tiny synthetic
Ultralytics-layout ONNX graph built here, so both decode paths are exercised offline."""

from __future__ import annotations

import importlib.util
import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from databox.detect import (
    Detection,
    Detector,
    ImageResult,
    categorise,
    draw_detections,
    model_version,
    resolve_model_path,
)
from databox.detect import model as model_module
from databox.detect.decode import postprocess
from databox.detect.model import detect_family
from databox.errors import ConfigError
from tests.conftest import SHARED_DIR, require_service

MODEL = SHARED_DIR / "models" / "yolox_nano.onnx"


def _require_module(name: str) -> None:
    require_service(importlib.util.find_spec(name) is not None, f"{name} is not installed")


@pytest.fixture(scope="module")
def detector() -> Detector:
    _require_module("onnxruntime")
    require_service(MODEL.is_file(), f"no YOLOX model at {MODEL}")
    return Detector(MODEL)


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _box(d: Detection) -> tuple[float, float, float, float]:
    return (d.x1, d.y1, d.x2, d.y2)


def _save(array: np.ndarray, path: Path, **kwargs) -> Path:
    Image.fromarray(array).save(path, **kwargs)
    return path


# -- real photographs ---------------------------------------------------------------


def test_import_is_cheap_and_dagster_free():
    code = (
        "import sys, databox.detect; print('onnxruntime' in sys.modules, 'dagster' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_astronaut_is_a_person(detector):
    import skimage.data

    result = detector.detect_image(skimage.data.astronaut(), "astronaut.png")
    assert result.status == "ok" and (result.width, result.height) == (512, 512)
    people = [d for d in result.detections if d.class_name == "person"]
    assert people and people[0].confidence >= 0.5
    assert all(0 <= d.x1 < d.x2 <= 512 and 0 <= d.y1 < d.y2 <= 512 for d in result.detections)
    assert categorise(result.detections) == "lifestyle"


def test_coffee_is_a_cup(detector):
    import skimage.data

    result = detector.detect_image(skimage.data.coffee())
    cups = [d for d in result.detections if d.class_name == "cup"]
    assert cups and cups[0].confidence >= 0.5
    assert categorise(result.detections) == "product_display"


def test_coco_photos_in_order(detector, coco_photos):
    photos = coco_photos[:4]
    results = list(detector.detect_paths(photos))
    assert [r.path for r in results] == photos
    for path, result in zip(photos, results, strict=True):
        assert result.status == "ok" and result.detections, path
        with Image.open(path) as img:
            assert (result.width, result.height) == img.size
        confidences = [d.confidence for d in result.detections]
        assert confidences == sorted(confidences, reverse=True)
        assert all(d.confidence > 0.3 for d in result.detections)


def test_model_version_names_the_weights():
    require_service(MODEL.is_file(), f"no YOLOX model at {MODEL}")
    assert model_version(MODEL) == "yolox_nano.onnx@695e750a5d57"  # sha256 in the models README


# -- decode + NMS against a plain reference -----------------------------------------


def _reference_yolox(raw: np.ndarray, size: int, score_thr: float, iou_thr: float) -> list:
    """The README's recipe written as loops: grid decode, obj×cls, greedy NMS per class."""
    rows = raw.tolist()
    candidates = []
    i = 0
    for stride in (8, 16, 32):
        cells = size // stride
        for gy in range(cells):
            for gx in range(cells):
                cx, cy, w, h, obj, *classes = rows[i]
                i += 1
                for cls, p in enumerate(classes):
                    if obj * p > score_thr:
                        x, y = (cx + gx) * stride, (cy + gy) * stride
                        bw, bh = math.exp(w) * stride, math.exp(h) * stride
                        candidates.append(
                            (obj * p, cls, (x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2))
                        )
    assert i == len(rows)
    candidates.sort(key=lambda c: -c[0])
    kept: list = []
    for score, cls, box in candidates:
        if all(k_cls != cls or _iou(k_box, box) <= iou_thr for _, k_cls, k_box in kept):
            kept.append((score, cls, box))
    return kept


def test_vectorised_decode_and_nms_match_reference(detector, coco_photos):
    import skimage.data

    images = [skimage.data.astronaut(), skimage.data.coffee()]
    prepared = [detector.prepare_image(Image.fromarray(a), Path("mem")) for a in images]
    prepared += [detector.prepare(p) for p in coco_photos[:3]]
    compared = 0
    for item in prepared:
        raw = detector.infer(item.tensor[None])[0]
        # A low threshold gives NMS real work: many overlapping candidates per class.
        for score_thr in (0.3, 0.05):
            fast = postprocess(raw, "yolox", (416, 416), score_thr, 0.45, 10_000)
            slow = _reference_yolox(raw, 416, score_thr, 0.45)
            assert len(fast.scores) == len(slow)
            unmatched = list(zip(fast.class_ids.tolist(), fast.boxes.tolist(), strict=True))
            for _, cls, box in slow:
                match = next(
                    (j for j, (c, b) in enumerate(unmatched) if c == cls and _iou(b, box) >= 0.99),
                    None,
                )
                assert match is not None, f"reference box {cls} {box} has no match"
                unmatched.pop(match)
            compared += len(slow)
    assert compared > 50  # the comparison was not vacuous


# -- an Ultralytics-layout model, built here ----------------------------------------

NAMES = {i: f"thing{i}" for i in range(80)} | {0: "person", 41: "cup"}


def _ultralytics_model(path: Path, n_boxes: int = 100) -> np.ndarray:
    """A graph with input ``images`` [1,3,64,64] and output ``output0`` [1,84,N] equal to
    a known constant (plus 0 × sum(input), so the input is genuinely consumed)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = np.zeros((1, 84, n_boxes), dtype=np.float32)

    def put(i, cx, cy, w, h, cls, score):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + cls, i] = score

    put(0, 20, 30, 10, 10, 0, 0.9)  # a person
    put(1, 21, 30, 10, 10, 0, 0.8)  # its near-duplicate: NMS must drop it
    put(2, 20, 30, 10, 10, 41, 0.6)  # same box, other class: per-class NMS keeps it
    put(3, 45, 40, 12, 8, 41, 0.7)  # a cup elsewhere
    put(4, 50, 20, 6, 6, 5, 0.2)  # under the score threshold
    nodes = [
        helper.make_node("ReduceSum", ["images"], ["total"], keepdims=0),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.float32(0.0))),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Constant", [], ["table"], value=numpy_helper.from_array(out)),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fake_yolov8",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, n_boxes])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, {"names": repr(NAMES), "task": "detect"})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return out


@pytest.fixture(scope="module")
def ultralytics_model(tmp_path_factory) -> Path:
    _require_module("onnxruntime")
    _require_module("onnx")
    path = tmp_path_factory.mktemp("model") / "fake_yolov8.onnx"
    _ultralytics_model(path)
    return path


def test_ultralytics_output_path(ultralytics_model, tmp_path):
    detector = Detector(ultralytics_model)
    assert detector.family == "ultralytics" and detector.input_hw == (64, 64)
    assert detector.info.num_classes == 80 and detector.class_names[41] == "cup"
    # 128×64 → ratio 0.5, resized to 64×32, centred: 16 px of padding above and below.
    image = _save(np.zeros((64, 128, 3), np.uint8), tmp_path / "wide.png")
    result = detector.detect_path(image)
    found = [
        (d.class_name, round(d.confidence, 3), tuple(round(v, 3) for v in _box(d)))
        for d in result.detections
    ]
    # Input box → original: x × 2, (y - 16) × 2. Sorted by score; the 0.8 duplicate
    # person is suppressed, the cup on the person's box survives (another class),
    # the 0.2 box is under the threshold.
    assert found == [
        ("person", 0.9, (30.0, 18.0, 50.0, 38.0)),  # 20±5, 30±5
        ("cup", 0.7, (78.0, 40.0, 102.0, 56.0)),  # 45±6, 40±4
        ("cup", 0.6, (30.0, 18.0, 50.0, 38.0)),
    ]
    assert categorise(result.detections) == "promotional"


def test_ultralytics_input_is_rgb_unit_range_centred(ultralytics_model):
    detector = Detector(ultralytics_model)
    red = Image.new("RGB", (128, 64), (255, 0, 0))
    tensor = detector.prepare_image(red, Path("red")).tensor
    assert tensor.shape == (3, 64, 64)
    assert np.allclose(tensor[:, :16], 114 / 255) and np.allclose(tensor[:, 48:], 114 / 255)
    assert np.allclose(tensor[0, 16:48], 1.0) and np.allclose(tensor[1:, 16:48], 0.0)


def test_yolox_input_is_bgr_raw_top_left(detector):
    red = Image.new("RGB", (832, 416), (255, 0, 0))  # → 416×208 in the top half
    tensor = detector.prepare_image(red, Path("red")).tensor
    assert np.allclose(tensor[2, :208], 255.0) and np.allclose(tensor[:2, :208], 0.0)
    assert np.allclose(tensor[:, 208:], 114.0)


def test_family_detection(ultralytics_model, detector):
    assert detector.family == "yolox" and detector.info.num_classes == 80
    assert detect_family((1, 3549, 85), (416, 416)) == ("yolox", 80)
    assert detect_family((1, 8400, 85), (640, 640)) == ("yolox", 80)
    assert detect_family((1, 84, 8400), (640, 640)) == ("ultralytics", 80)
    # 64×64 YOLOX would have 84 anchors: the Ultralytics layout must still win.
    assert detect_family((1, 84, 100), (64, 64)) == ("ultralytics", 80)
    assert detect_family((1, 5, 8400), (640, 640), "ultralytics") == ("ultralytics", 1)
    with pytest.raises(ConfigError, match="not a yolox export"):
        detect_family((1, 84, 8400), (640, 640), "yolox")
    with pytest.raises(ConfigError, match="not a known family"):
        detect_family((1, 1000), (640, 640))
    assert Detector(ultralytics_model, family="ultralytics").family == "ultralytics"
    with pytest.raises(ConfigError, match="yolox"):
        Detector(ultralytics_model, family="yolox")


# -- bad input and configuration ----------------------------------------------------


def test_bad_files_are_errors_and_the_stream_continues(detector, coco_photos, tmp_path):
    data = coco_photos[0].read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo\n")
    missing = tmp_path / "missing.jpg"
    paths = [coco_photos[0], truncated, text, missing, coco_photos[1]]

    results = list(detector.detect_paths(iter(paths), decode_workers=2))
    assert [r.path for r in results] == paths
    assert [r.status for r in results] == ["ok", "error", "error", "error", "ok"]
    for result in results[1:4]:
        assert str(result.path) in result.error
    assert "truncated" in results[1].error


def test_stream_is_lazy_and_bounded(detector, coco_photos):
    pulled = 0

    def source():
        nonlocal pulled
        for _ in range(1000):
            pulled += 1
            yield coco_photos[0]

    stream = detector.detect_paths(source(), decode_workers=2)
    assert next(stream).status == "ok"
    stream.close()  # stopping early must not hang or leak the thread pool
    assert pulled <= 8


def test_exif_orientation_and_big_jpeg_map_to_original_pixels(detector, tmp_path):
    import skimage.data

    astronaut = skimage.data.astronaut()[:, :400]  # 400 × 512, not square
    reference = detector.detect_image(astronaut).detections[0]

    # Stored sideways with EXIF orientation 6 ("rotate 90° clockwise to display").
    sideways = Image.fromarray(astronaut).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = detector.detect_path(
        _save(np.asarray(sideways), tmp_path / "rot.jpg", exif=exif, quality=95)
    )
    assert (rotated.width, rotated.height) == (400, 512)
    assert _iou(_box(rotated.detections[0]), _box(reference)) > 0.9

    # 4× larger JPEG: decoded DCT-reduced, boxes must still be in its own pixels.
    big = Image.fromarray(astronaut).resize((1600, 2048), Image.Resampling.BICUBIC)
    large = detector.detect_path(_save(np.asarray(big), tmp_path / "big.jpg", quality=95))
    assert (large.width, large.height) == (1600, 2048)
    scaled = tuple(v / 4 for v in _box(large.detections[0]))
    assert _iou(scaled, _box(reference)) > 0.9


def test_missing_model_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setenv("YOLO_MODEL", str(tmp_path / "nope.onnx"))
    with pytest.raises(ConfigError, match="YOLO_MODEL points to") as err:
        resolve_model_path(None)
    message = str(err.value)
    assert (
        "Megvii-BaseDetection/YOLOX" in message and "yolo export" in message and "AGPL" in message
    )

    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model_path(tmp_path / "other.onnx")

    # No variable, nothing at the default places.
    monkeypatch.delenv("YOLO_MODEL")
    monkeypatch.setenv("DATABOX_HOME", str(tmp_path))
    monkeypatch.setattr(
        model_module, "_shared_model_candidates", lambda: [tmp_path / "shared.onnx"]
    )
    with pytest.raises(ConfigError, match="no detection model found") as err:
        Detector()
    assert "releases" in str(err.value)


def test_model_path_from_env_and_defaults(monkeypatch, tmp_path):
    require_service(MODEL.is_file(), f"no YOLOX model at {MODEL}")
    monkeypatch.setenv("YOLO_MODEL", str(MODEL))
    assert resolve_model_path(None) == MODEL
    monkeypatch.delenv("YOLO_MODEL")
    monkeypatch.setenv("DATABOX_HOME", str(tmp_path))
    monkeypatch.setenv("DATABOX_SHARED_DIR", str(SHARED_DIR))
    assert resolve_model_path(None) == MODEL  # ../shared/models/ beside the checkout
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "yolox_nano.onnx").write_bytes(b"x")
    assert resolve_model_path(None) == tmp_path / "models" / "yolox_nano.onnx"  # project first


def test_not_an_onnx_file_is_a_config_error(tmp_path):
    _require_module("onnxruntime")
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"definitely not protobuf")
    with pytest.raises(ConfigError, match=r"bogus\.onnx"):
        Detector(bogus)


# -- categorise and draw ------------------------------------------------------------


def _det(name: str) -> Detection:
    return Detection(0, name, 0.9, 0, 0, 10, 10)


def test_categorise():
    assert categorise([_det("person"), _det("bottle")]) == "promotional"
    assert categorise([_det("cell phone")]) == "product_display"
    assert categorise([_det("person"), _det("dog")]) == "lifestyle"
    assert categorise([_det("dog")]) == "other"
    assert categorise([]) == "other"
    assert categorise([_det("person"), _det("dog")], product_classes={"dog"}) == "promotional"


def test_draw_detections(detector, coco_photos, tmp_path):
    result = detector.detect_path(coco_photos[0])
    out = draw_detections(coco_photos[0], result, tmp_path / "out" / "drawn.jpg")
    with Image.open(out) as drawn, Image.open(coco_photos[0]) as original:
        assert drawn.format == "JPEG" and drawn.size == original.size
    with pytest.raises(ValueError, match="nothing to draw"):
        draw_detections(
            coco_photos[0], ImageResult.failed(coco_photos[0], "boom"), tmp_path / "x.jpg"
        )


def test_image_result_status():
    assert ImageResult.from_detections(Path("a"), 1, 1, ()).status == "no_objects"
    assert ImageResult.from_detections(Path("a"), 1, 1, (_det("cup"),)).status == "ok"
    failed = ImageResult.failed(Path("a"), "a: broken")
    assert failed.status == "error" and failed.width is None


def test_jpeg_bytes_in_memory(detector):
    """detect_image also takes a decoded PIL image, e.g. from bytes already in memory."""
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.coffee()).save(buf, format="JPEG")
    result = detector.detect_image(Image.open(io.BytesIO(buf.getvalue())))
    assert "cup" in {d.class_name for d in result.detections}


def test_the_benchmark_bound_feeds_the_model_what_the_pipeline_feeds_it(detector, coco_photos):
    """bench.detect's bound times ``session.run`` alone on tensors prepared beforehand:
    it is the real bound only if they are exactly the inputs ``detect_paths`` gives the
    same session, batch for batch."""
    from bench.detect import model_inputs

    photos = coco_photos[:3]
    fed: list[np.ndarray] = []
    real = detector.session

    class Spy:  # records the inputs, answers with the real session
        def run(self, outputs, feeds):
            fed.append(next(iter(feeds.values())).copy())
            return real.run(outputs, feeds)

    detector.session = Spy()
    try:
        results = list(detector.detect_paths(photos))
    finally:
        detector.session = real
    assert all(r.status != "error" for r in results)
    prepared = model_inputs(detector, photos)
    assert len(prepared) == len(fed) == len(photos)
    for ours, theirs in zip(prepared, fed, strict=True):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        assert np.array_equal(ours, theirs)
