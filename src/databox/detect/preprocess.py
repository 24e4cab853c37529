"""Image file → letterboxed input tensor, and the mapping back to original pixels.

Runs in the decode worker threads: Pillow's decoder and resize and numpy's copies
release the GIL, so several images are prepared while the model runs on another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

PAD_VALUE = 114  # grey used by both YOLOX and Ultralytics for the letterbox border
#: Largest image (width × height, as its header declares) decoded at all: 64 MP, e.g.
#: 8000 × 8000. A 48 MP phone photo passes and Telegram sends photos at ≤ 2560 px; a
#: PNG of this size needs ≈ 256 MB to decode (RGBA), per decode thread. Pillow's own
#: guard is looser (it only *warns* up to 89 MP, refuses above 179 MP) and is a
#: process-wide global other libraries switch off, so this limit is checked here.
MAX_IMAGE_PIXELS = 64_000_000
_ORIENTATION_TAG = 0x0112
_SWAPS_AXES = frozenset({5, 6, 7, 8})  # EXIF orientations that rotate by 90°


class ImageTooLarge(ValueError):
    """The header declares more pixels than ``MAX_IMAGE_PIXELS``: a decompression bomb
    (a few KB that would decode to GBs) or an image no photo channel sends."""


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How a model family wants its input; see ``model.input_spec``."""

    height: int
    width: int
    centred: bool  # Ultralytics pads on both sides; YOLOX pads right/bottom only
    bgr: bool  # YOLOX was trained on OpenCV (BGR) images
    scale: float  # 1.0 for raw 0..255 (YOLOX), 1/255 for Ultralytics


@dataclass(frozen=True, slots=True)
class Letterbox:
    """Maps boxes in model-input pixels back to original-image pixels."""

    width: int  # original image size, after EXIF orientation
    height: int
    pad_x: float
    pad_y: float
    scale_x: float  # original pixels per model-input pixel
    scale_y: float

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """[K, 4] x1,y1,x2,y2 in input pixels → original pixels, clipped to the image."""
        out = np.empty_like(boxes)
        out[:, 0::2] = ((boxes[:, 0::2] - self.pad_x) * self.scale_x).clip(0, self.width)
        out[:, 1::2] = ((boxes[:, 1::2] - self.pad_y) * self.scale_y).clip(0, self.height)
        return out


def load_image(
    path: Path, target: tuple[int, int] | None = None, max_pixels: int = MAX_IMAGE_PIXELS
) -> tuple[Image.Image, int, int]:
    """Decode ``path`` as upright RGB. Returns (image, original width, original height).

    With ``target`` (model input height, width) a JPEG is decoded with DCT scaling
    straight to the smallest size that still covers the letterboxed size: a 4000 px
    phone photo then decodes about 8× faster and never exists at full size in memory.
    The returned size is the one before that reduction, so boxes map to real pixels.

    A truncated file raises OSError (Pillow's default ``LOAD_TRUNCATED_IMAGES = False``,
    which this module never changes), a non-image raises ``UnidentifiedImageError``, an
    image declaring more than ``max_pixels`` raises ``ImageTooLarge`` before any pixel
    is decoded (``Image.open`` reads only the header).
    """
    try:
        opened = Image.open(path)
    except Image.DecompressionBombError as exc:  # Pillow's own, looser limit, at open
        raise ImageTooLarge(f"refused before decoding: {exc}") from None
    with opened as img:
        if img.width * img.height > max_pixels:
            raise ImageTooLarge(
                f"refused before decoding: it declares {img.width}×{img.height} = "
                f"{img.width * img.height:,} pixels, over the limit of {max_pixels:,} "
                "(a decompression bomb, or far larger than any photo)"
            )
        try:
            orientation = int(img.getexif().get(_ORIENTATION_TAG, 1))
        except Exception:  # a broken EXIF block must not lose an otherwise good photo
            orientation = 1
        swap = orientation in _SWAPS_AXES
        raw_w, raw_h = img.size
        width, height = (raw_h, raw_w) if swap else (raw_w, raw_h)
        if target is not None:
            ratio = min(target[0] / height, target[1] / width)
            need_w, need_h = math.ceil(width * ratio), math.ceil(height * ratio)
            # draft() works in the file's (unrotated) frame and is a no-op for non-JPEGs.
            img.draft("RGB", (need_h, need_w) if swap else (need_w, need_h))
        img.load()  # decode now, inside the `with`, so truncation surfaces here
        if orientation != 1:
            ImageOps.exif_transpose(img, in_place=True)
        rgb = img if img.mode == "RGB" else img.convert("RGB")
    return rgb, width, height


def letterbox(
    img: Image.Image, width: int, height: int, spec: InputSpec
) -> tuple[np.ndarray, Letterbox]:
    """Resize ``img`` to fit ``spec`` keeping its aspect ratio, pad with grey.

    ``width``/``height`` are the original size (``img`` may be a DCT-reduced decode).
    Returns a float32 [3, H, W] tensor in the family's channel order and range.
    """
    w, h = img.size
    ratio = min(spec.height / h, spec.width / w)
    # Clamped to ≥ 1 px so a 1×10000 banner still resizes instead of failing.
    new_w = min(max(round(w * ratio), 1), spec.width)
    new_h = min(max(round(h * ratio), 1), spec.height)
    if (new_w, new_h) != (w, h):
        # reducing_gap: Pillow first shrinks by an integer factor (cheap box filter) when
        # the scale is large, then resamples; visually the same, several times faster.
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=3.0)
    if spec.centred:  # Ultralytics' LetterBox: split the padding, biased like its rounding
        left = round((spec.width - new_w) / 2 - 0.1)
        top = round((spec.height - new_h) / 2 - 0.1)
    else:
        left = top = 0

    # Fill the float tensor directly instead of building a uint8 canvas first: one
    # pass over the pixels for channel order, layout and scaling together.
    tensor = np.full((3, spec.height, spec.width), PAD_VALUE * spec.scale, dtype=np.float32)
    pixels = np.asarray(img)  # H, W, 3 uint8 RGB
    if spec.bgr:
        pixels = pixels[:, :, ::-1]
    region = tensor[:, top : top + new_h, left : left + new_w]
    np.multiply(pixels.transpose(2, 0, 1), np.float32(spec.scale), out=region, casting="unsafe")

    # Original pixels per input pixel, per axis: undoes both the letterbox ratio and
    # any DCT reduction in load_image (which need not be exactly uniform).
    box = Letterbox(width, height, left, top, width / new_w, height / new_h)
    return tensor, box
