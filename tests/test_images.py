"""Decoding: every kind of awkward file either becomes an RGB array or fails with a reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from orchard_contract.paths import has_image_extension
from orchard_features.images import ImageError, decode_image, preprocess, to_rgb
from orchard_local.sample_data import jpeg_bytes, png_bytes

SIZE = 32


def picture(mode: str = "RGB", size: tuple[int, int] = (40, 30)) -> Image.Image:
    gradient = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3).astype(np.uint8)
    return Image.fromarray(gradient, "RGB").convert(mode)


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_rgb_jpeg_is_resized_and_keeps_its_original_size():
    decoded = decode_image(jpeg_bytes(picture()), SIZE)
    assert decoded.pixels.shape == (SIZE, SIZE, 3) and decoded.pixels.dtype == np.uint8
    assert (decoded.width, decoded.height, decoded.mode) == (40, 30, "RGB")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"plain text, not pixels", "not an image"),
        (jpeg_bytes(picture())[:200], "truncated or corrupt"),
        (png_bytes(picture())[:120], "truncated or corrupt"),
    ],
    ids=["zero-byte", "not-an-image", "truncated-jpeg", "truncated-png"],
)
def test_unreadable_files_fail_with_their_reason(data: bytes, reason: str):
    with pytest.raises(ImageError, match=reason):
        decode_image(data, SIZE)


@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "RGBA", "LA"])
def test_other_modes_are_converted_to_rgb(mode: str):
    fmt = "JPEG" if mode in ("L", "CMYK") else "PNG"
    decoded = decode_image(encoded(picture(mode), fmt), SIZE)
    assert decoded.pixels.shape == (SIZE, SIZE, 3)
    assert decoded.mode == mode


def test_transparency_is_flattened_onto_white():
    clear = Image.new("RGBA", (8, 8), (200, 0, 0, 0))
    assert to_rgb(clear).getpixel((0, 0)) == (255, 255, 255)
    opaque = Image.new("RGBA", (8, 8), (200, 0, 0, 255))
    assert to_rgb(opaque).getpixel((0, 0)) == (200, 0, 0)


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    wide = Image.fromarray(np.full((10, 10), 40000, dtype=np.uint16))
    decoded = decode_image(png_bytes(wide), SIZE)
    assert decoded.mode.startswith("I")
    assert np.all(decoded.pixels == 40000 >> 8)


def test_wrong_extension_is_decoded_by_content():
    # A PNG named .jpg: the name does not matter, the bytes do.
    assert decode_image(png_bytes(picture()), SIZE).pixels.shape == (SIZE, SIZE, 3)


def test_large_jpeg_is_decoded_at_reduced_scale():
    big = picture(size=(3000, 2000))
    decoded = decode_image(jpeg_bytes(big), SIZE)
    assert (decoded.width, decoded.height) == (3000, 2000)
    assert decoded.pixels.shape == (SIZE, SIZE, 3)


def test_images_over_the_pixel_limit_fail():
    with pytest.raises(ImageError, match="too large: 40x30 pixels"):
        decode_image(jpeg_bytes(picture()), SIZE, max_pixels=1000)


def test_floating_point_images_are_refused():
    with pytest.raises(ImageError, match="floating point"):
        to_rgb(Image.new("F", (4, 4)))


def test_preprocess_matches_mobilenet_v2_preprocess_input():
    from keras.applications.mobilenet_v2 import preprocess_input

    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=3)
    np.testing.assert_allclose(preprocess(pixels), preprocess_input(pixels.astype(np.float32)), atol=1e-6)


def test_preprocess_fills_a_kept_buffer_with_the_same_values():
    generator = np.random.default_rng(7)
    first, second = (generator.integers(0, 256, (count, 8, 8, 3), dtype=np.uint8) for count in (3, 2))
    buffer = np.empty((3, 8, 8, 3), dtype=np.float32)
    for pixels in (first, second):
        batch = preprocess(list(pixels), buffer)
        assert batch.shape == pixels.shape and np.shares_memory(batch, buffer)
        np.testing.assert_array_equal(batch, pixels.astype(np.float32) / np.float32(127.5) - np.float32(1.0))


@pytest.mark.parametrize(("name", "expected"), [("a.JPG", True), ("b.jpeg", True), ("c.png", True), ("d.txt", False), ("e", False)])
def test_image_extensions(name: str, expected: bool):
    assert has_image_extension(f"s3://bucket/Training/Kiwi/{name}") is expected
