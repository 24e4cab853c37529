"""Object detection on photos with an ONNX YOLO model (YOLOX or Ultralytics export).

Plain application code: no Dagster, and onnxruntime is only imported when a
``Detector`` is built, so importing this package is cheap.

    from databox.detect import Detector, categorise
    detector = Detector()  # $YOLO_MODEL, models/yolox_nano.onnx or ../shared/models/
    for result in detector.detect_paths(paths):
        print(result.path, result.status, categorise(result.detections))
"""

from databox.detect.categorise import DEFAULT_PRODUCT_CLASSES, categorise
from databox.detect.draw import draw_detections
from databox.detect.model import model_version, resolve_model_path
from databox.detect.pipeline import Detector
from databox.detect.result import Detection, ImageResult

__all__ = [
    "DEFAULT_PRODUCT_CLASSES",
    "Detection",
    "Detector",
    "ImageResult",
    "categorise",
    "draw_detections",
    "model_version",
    "resolve_model_path",
]
