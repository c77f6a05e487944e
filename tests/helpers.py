"""What the job's tests share besides fixtures: the test model's size, numerical comparisons, odd names, a driver
without the model tools."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from orchard_contract.emr_step import PUBLISHED_FILES, STAGED_FILES, staged_path
from orchard_features.model_tools import model_tools, normalized

if TYPE_CHECKING:
    from orchard_local.local_s3 import LocalS3

ROOT = Path(__file__).resolve().parents[1]
TEST_IMAGE_SIZE = 96  # small input: the same network, a fraction of the compute of 224 px
TOOL_MODULES = ("tensorflow", "keras", "tf2onnx", "onnx")  # the model tools' modules
SAMPLE_IMAGES = 56  # 7 classes x 8, broken and odd files included

# Names real buckets and folders hold, each one a folder (class) name and a file name: the characters S3 says need
# special handling or are best avoided ("Naming Amazon S3 objects", S3 User Guide,
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html), what urllib reads as a fragment (#),
# a query (?) or an escape (%xx), timestamps, quotes, Unicode. None starts with `_` or `.` (hidden, as in Spark).
ODD_NAMES = (
    "name with spaces & #hash",
    "#first",
    "why?not",
    "literal %20 and %2F",
    "100% sure",
    "a+b plus",
    "k=v&x=y",
    "2024-01-01T10:00:00",
    "user@host",
    "semi;colon,comma",
    "[square] {curly}",
    "it's \"quoted\"",
    "café crème",
    "日本",
    "🍎 emoji",
    "a $^$ b",
    "back\\slash | pipe ~ `tick` ^caret <lt> >gt",
    " spaced out ",
    "dots..and...more.",
    "x=1",
)
ODD_SPLITS = ("Training", "Test #1?")


def stage_model_tools(folder: Path) -> Path:
    """`folder` holding what the bootstrap action stages on EMR's primary node for the job (the installer, the model
    tools' pins, the constraints), from this checkout."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in STAGED_FILES:
        Path(staged_path(name, str(folder))).write_bytes((ROOT / PUBLISHED_FILES[name]).read_bytes())
    return folder


def as_bare_driver(monkeypatch: pytest.MonkeyPatch, staged: Path) -> None:
    """Make this process EMR's primary node after its bootstrap: the model tools' distributions not installed until
    the installer staged in `staged` leaves `installed` there, their modules not importable."""
    tools = set(model_tools(str(staged)).pins)
    real_version = metadata.version

    def version(name: str) -> str:
        if normalized(name) in tools and not (staged / "installed").exists():
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(metadata, "version", version)
    for module in TOOL_MODULES:
        monkeypatch.setitem(sys.modules, module, None)  # `import tensorflow` raises ImportError


def installer_calls(staged: Path) -> list[str]:
    """The calls of the stub installer the `staged` fixture stages (conftest.py), each its arguments."""
    log = staged / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def odd_tree() -> dict[str, tuple[str, str]]:
    """The relative paths of a Fruits-360 layout whose classes and files have odd names, with the (split, label)
    of each: every name a class of its own, holding two files named from the list, and the `Odd` class."""
    tree = {f"Training/Odd/{ODD_NAMES[0]}.jpg": ("Training", "Odd")}
    for index, label in enumerate(ODD_NAMES):
        split = ODD_SPLITS[index % len(ODD_SPLITS)]
        for name in (f"{ODD_NAMES[index]}.jpg", f"{ODD_NAMES[(index + 1) % len(ODD_NAMES)]}.jpeg"):
            tree[f"{split}/{label}/{name}"] = (split, label)
    return tree


def write_odd_tree(root: Path) -> dict[str, tuple[str, str]]:
    """`odd_tree()` written under `root` as small JPEGs, each a picture of its own; returns `odd_tree()`."""
    import numpy as np

    from orchard_local.sample_data import FRUITS, draw_fruit, jpeg_bytes

    tree, rng, shapes = odd_tree(), np.random.default_rng(7), list(FRUITS.values())
    for index, relative in enumerate(tree):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(jpeg_bytes(draw_fruit(*shapes[index % len(shapes)], rng)))
    return tree


def keras_features(model, images: list[bytes]):
    """The Keras model's own outputs, `model(x)`, on the job's preprocessing of `images`."""
    import numpy as np

    from orchard_features.images import decode_image, preprocess

    batch = preprocess(np.stack([decode_image(data, TEST_IMAGE_SIZE).pixels for data in images]))
    return model(batch, training=False).numpy()


@contextmanager
def driver_environment(server: LocalS3) -> Iterator[None]:
    """This process (Spark's driver, which lists the inputs) pointed at the local S3 for the block; the
    job's cached client is dropped on the way in and out, so that it is made with, then without, it."""
    from orchard_features import sources
    from orchard_local.local_s3 import process_environment

    with pytest.MonkeyPatch.context() as patch:
        for name, value in process_environment(server.endpoint_url).items():
            patch.setenv(name, value)
        sources.s3_client.cache_clear()
        try:
            yield
        finally:
            sources.s3_client.cache_clear()


@contextmanager
def local_s3_bucket(server: LocalS3, bucket: str) -> Iterator[None]:
    """`bucket` in the local S3 (made if it is not there), and this process pointed at it for the block."""
    client = server.client()
    if bucket not in {found["Name"] for found in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=bucket)
    with driver_environment(server):
        yield


def relative_error(actual, expected) -> float:
    """Largest absolute difference, relative to the largest expected magnitude."""
    import numpy as np

    return float(np.abs(actual - expected).max() / np.abs(expected).max())
