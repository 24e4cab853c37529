"""Label a photo by what it shows: people, products, both or neither."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from databox.detect.result import Detection

Category = Literal["promotional", "product_display", "lifestyle", "other"]

PERSON_CLASS = "person"
#: COCO classes that read as "a product" in a shop's post (darknet spelling, as in
#: coco_classes.txt; these twelve are spelled the same by Ultralytics).
DEFAULT_PRODUCT_CLASSES = frozenset(
    {
        "bottle",
        "cup",
        "wine glass",
        "bowl",
        "vase",
        "cell phone",
        "book",
        "scissors",
        "toothbrush",
        "handbag",
        "backpack",
        "suitcase",
    }
)


def categorise(
    detections: Iterable[Detection], product_classes: Iterable[str] = DEFAULT_PRODUCT_CLASSES
) -> Category:
    """``promotional`` (person and product), ``product_display`` (product only),
    ``lifestyle`` (person only) or ``other``."""
    products = frozenset(product_classes)
    names = {d.class_name for d in detections}
    has_person = PERSON_CLASS in names
    has_product = not names.isdisjoint(products)
    if has_person and has_product:
        return "promotional"
    if has_product:
        return "product_display"
    if has_person:
        return "lifestyle"
    return "other"
