"""Decoding image bytes into model-ready RGB arrays, with a reason for every image that fails.

Pure functions on bytes and numpy arrays: no Spark, no model. Everything that can be turned
into an RGB picture is (grayscale, palette, CMYK, alpha, 16-bit, large JPEGs); what cannot
raises `ImageError` with a short reason that ends up in the job's `errors/` output.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 50_000_000
# What `decode_image` and `preprocess` do, in words: recorded with every run, and part of the model's fingerprint,
# which keys the feature store. Change it when a change here changes the features an image gets.
PREPROCESSING = "RGB, bilinear resize, x / 127.5 - 1 (mobilenet_v2.preprocess_input)"
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_WHITE = (255, 255, 255)
_HALF_RANGE = np.float32(127.5)

# Truncated files must fail loudly, never be padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageError(Exception):
    """An image that cannot be used; the message is the reason recorded in `errors/`."""


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image resized to the model's input, with what the file originally was."""

    pixels: np.ndarray  # uint8, (size, size, 3)
    width: int
    height: int
    mode: str


def decode_image(data: bytes, size: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode image bytes to a `size` x `size` RGB uint8 array, or raise `ImageError`.

    Safe to call from several threads at once: the pixel limit is checked here, not through the
    process-wide warning filters (Pillow's own bomb check still raises, at twice its default limit).
    """
    if not data:
        raise ImageError("empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > max_pixels:
            raise ImageError(f"image too large: {width}x{height} pixels is over the limit of {max_pixels:,}")
        mode = image.mode
        image.draft("RGB", (size, size))  # JPEG only: decode big images at a reduced scale
        image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not an image: the content is in no format Pillow recognises") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image too large: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"truncated or corrupt image data: {exc}") from None
    rgb = to_rgb(image).resize((size, size), Image.Resampling.BILINEAR)
    return DecodedImage(pixels=np.asarray(rgb, dtype=np.uint8), width=width, height=height, mode=mode)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is flattened onto white."""
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(image, dtype=np.uint32)
        return Image.fromarray((wide >> 8).clip(0, 255).astype(np.uint8), mode="L").convert("RGB")
    if image.mode == "F":
        raise ImageError("unsupported pixel format: 32-bit floating point")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def preprocess(pixels: Sequence[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """MobileNetV2's `preprocess_input`: uint8 [0, 255] images to a float32 batch in [-1, 1].

    Written into `out` when it has room (a buffer kept between batches), in two passes and no
    temporary array: a fresh 40 MB batch a time costs more in page faults than the arithmetic.
    """
    shape = (len(pixels), *pixels[0].shape)
    if out is None or out.shape[0] < shape[0] or out.shape[1:] != shape[1:]:
        out = np.empty(shape, dtype=np.float32)
    batch = out[: shape[0]]
    for slot, image in zip(batch, pixels, strict=True):
        np.divide(image, _HALF_RANGE, out=slot, dtype=np.float32)
    np.subtract(batch, np.float32(1.0), out=batch)
    return batch
