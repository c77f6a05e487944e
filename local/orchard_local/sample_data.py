"""A deterministic synthetic dataset in the Fruits-360 layout, for the demo, tests and benchmark.

Each class is a fruit-like shape of its own colour on a white background, 100x100 JPEG, with
seeded jitter of size, position, tint and noise. Optionally some classes also hold the kinds
of awkward files a real bucket has: broken ones that must fail with a reason, and odd ones
(grayscale, CMYK, alpha, 16-bit, wrong extension) that must be converted and used.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

IMAGE_SIZE = 100
SPLIT = "Training"

# Class name -> (RGB colour, shape): names as in Fruits-360.
FRUITS: dict[str, tuple[tuple[int, int, int], str]] = {
    "Apple Braeburn": ((170, 35, 30), "round"),
    "Apple Golden 1": ((225, 190, 60), "round"),
    "Apple Granny Smith": ((120, 190, 70), "round"),
    "Banana": ((235, 210, 70), "crescent"),
    "Kiwi": ((120, 90, 50), "oval"),
    "Lemon": ((245, 225, 40), "oval"),
    "Strawberry": ((200, 20, 50), "heart"),
}


@dataclass(frozen=True)
class DatasetSummary:
    """What was generated: where, how many images, and which files are expected to fail."""

    root: Path
    images: int
    classes: tuple[str, ...]
    broken: tuple[str, ...]
    odd: tuple[str, ...]


def draw_fruit(colour: tuple[int, int, int], shape: str, rng: np.random.Generator) -> Image.Image:
    """One 100x100 RGB picture of a fruit-like shape on white."""
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    tint = np.clip(np.array(colour) + rng.integers(-25, 26, 3), 0, 255)
    fill = tuple(int(c) for c in tint)
    cx, cy = (int(v) for v in rng.integers(42, 59, 2))
    radius = int(rng.integers(26, 38))
    if shape == "round":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
        draw.line((cx, cy - radius - 6, cx + 3, cy - radius + 4), fill=(90, 60, 20), width=3)
    elif shape == "oval":
        draw.ellipse((cx - radius, cy - int(radius * 0.7), cx + radius, cy + int(radius * 0.7)), fill=fill)
    elif shape == "crescent":
        draw.pieslice((cx - radius - 10, cy - radius, cx + radius + 10, cy + radius + 20), 190, 350, fill=fill)
        draw.ellipse((cx - radius, cy - radius + 12, cx + radius, cy + radius + 26), fill=(255, 255, 255))
    else:  # heart: a strawberry-like triangle with a green top
        draw.polygon([(cx - radius, cy - radius // 2), (cx + radius, cy - radius // 2), (cx, cy + radius)], fill=fill)
        draw.rectangle((cx - radius // 2, cy - radius // 2 - 8, cx + radius // 2, cy - radius // 2), fill=(40, 140, 40))
    angle = float(rng.uniform(-30, 30))
    image = image.rotate(angle, fillcolor=(255, 255, 255)).filter(ImageFilter.GaussianBlur(0.6))
    noise = rng.normal(0, 6, (IMAGE_SIZE, IMAGE_SIZE, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8))


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    """An image encoded as JPEG."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    """An image encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def broken_files(sample: Image.Image) -> dict[str, bytes]:
    """Files that cannot be read as images, by name: each must fail with a reason."""
    whole = jpeg_bytes(sample)
    return {
        "broken_empty.jpg": b"",
        "broken_truncated.jpg": whole[: len(whole) // 2],
        "broken_not_an_image.jpg": b"this is a text file with an image's name\n",
    }


def odd_files(sample: Image.Image) -> dict[str, bytes]:
    """Unusual but readable images, by name: each must be converted to RGB and featurized."""
    rgba = sample.convert("RGBA")
    rgba.putalpha(Image.new("L", sample.size, 180))
    sixteen_bit = Image.fromarray(np.asarray(sample.convert("L"), dtype=np.uint16) * 257)
    return {
        "odd_grayscale.jpg": jpeg_bytes(sample.convert("L")),
        "odd_cmyk.jpg": jpeg_bytes(sample.convert("CMYK")),
        "odd_alpha.png": png_bytes(rgba),
        "odd_16bit.png": png_bytes(sixteen_bit),
        "odd_png_named.jpg": png_bytes(sample),
    }


def generate_dataset(root: str | Path, images: int = 420, classes: int = len(FRUITS), seed: int = 0,
                     problem_files: bool = True) -> DatasetSummary:
    """Write `images` files shared evenly by `classes` classes under `root`/Training/<Class>/.

    With `problem_files`, the first class holds the broken files and the second the odd ones,
    in place of ordinary images, so the total stays `images`.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    names = tuple(list(FRUITS)[:classes])
    broken: list[str] = []
    odd: list[str] = []
    for index, name in enumerate(names):
        per_class = images // len(names) + (1 if index < images % len(names) else 0)
        folder = root / SPLIT / name
        folder.mkdir(parents=True, exist_ok=True)
        colour, shape = FRUITS[name]
        specials: dict[str, bytes] = {}
        if problem_files and index == 0:
            specials = broken_files(draw_fruit(colour, shape, rng))
        elif problem_files and index == 1:
            specials = odd_files(draw_fruit(colour, shape, rng))
        for number in range(per_class - len(specials)):
            (folder / f"{number}_100.jpg").write_bytes(jpeg_bytes(draw_fruit(colour, shape, rng)))
        for file_name, content in specials.items():
            (folder / file_name).write_bytes(content)
        (broken if index == 0 else odd).extend(str(folder / n) for n in specials)
    return DatasetSummary(root=root, images=images, classes=names, broken=tuple(broken), odd=tuple(odd))
