"""What the job's tests share besides fixtures: the test model's size, numerical comparisons, odd names."""

from __future__ import annotations

TEST_IMAGE_SIZE = 96  # small input: the same network, a fraction of the compute of 224 px
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


def odd_tree() -> dict[str, tuple[str, str]]:
    """The relative paths of a Fruits-360 layout whose classes and files have odd names, with the (split, label)
    of each: every name a class of its own, holding two files named from the list, and the `Odd` class."""
    tree = {f"Training/Odd/{ODD_NAMES[0]}.jpg": ("Training", "Odd")}
    for index, label in enumerate(ODD_NAMES):
        split = ODD_SPLITS[index % len(ODD_SPLITS)]
        for name in (f"{ODD_NAMES[index]}.jpg", f"{ODD_NAMES[(index + 1) % len(ODD_NAMES)]}.jpeg"):
            tree[f"{split}/{label}/{name}"] = (split, label)
    return tree


def keras_features(model, images: list[bytes]):
    """The Keras model's own outputs, `model(x)`, on the job's preprocessing of `images`."""
    import numpy as np

    from orchard_features.images import decode_image, preprocess

    batch = preprocess(np.stack([decode_image(data, TEST_IMAGE_SIZE).pixels for data in images]))
    return model(batch, training=False).numpy()


def relative_error(actual, expected) -> float:
    """Largest absolute difference, relative to the largest expected magnitude."""
    import numpy as np

    return float(np.abs(actual - expected).max() / np.abs(expected).max())
