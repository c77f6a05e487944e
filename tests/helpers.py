"""What the job's tests share besides fixtures: the test model's size and numerical comparisons."""

from __future__ import annotations

TEST_IMAGE_SIZE = 96  # small input: the same network, a fraction of the compute of 224 px
SAMPLE_IMAGES = 56  # 7 classes x 8, broken and odd files included


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
