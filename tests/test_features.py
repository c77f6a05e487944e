"""Features: the engines give the Keras model's own outputs; bad rows carry a reason.

The model has random weights (seeded; batch-norm statistics calibrated on noise so that the
features are not vanishingly small): these tests compare numbers, not ImageNet semantics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import TEST_IMAGE_SIZE, keras_features, relative_error
from orchard_features.engines import OnnxRuntimeEngine, TensorFlowEngine
from orchard_features.features import decode_or_reason, featurize_batch
from orchard_features.model import prepare_model
from orchard_features.model_tools import model_tools

RELATIVE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def images(sample) -> list[bytes]:
    files = sorted(Path(sample.root).rglob("*_100.jpg"))[:12]
    return [path.read_bytes() for path in files]


def decoded(contents: pd.Series) -> list:
    return [decode_or_reason(data, TEST_IMAGE_SIZE, 10**8) for data in contents]


def test_random_weights_give_features_of_a_usable_scale(keras_model, images):
    features = keras_features(keras_model, images)
    assert features.shape == (12, 1280)
    assert 1e-3 < float(np.abs(features).mean()) < 1e3
    assert float(features.std(axis=0).mean()) > 1e-3  # images differ from one another


def test_onnx_runtime_features_equal_keras(keras_model, images, onnx_model):
    engine = OnnxRuntimeEngine(onnx_model.path, threads=1)
    result = featurize_batch(decoded(pd.Series(images)), engine)
    assert relative_error(np.stack(result["features"]), keras_features(keras_model, images)) < RELATIVE_TOLERANCE


def test_tensorflow_engine_features_equal_keras(keras_model, images, model_cache):
    artifact = prepare_model("none", TEST_IMAGE_SIZE, "tensorflow", model_cache, model_tools())
    engine = TensorFlowEngine(artifact.path, threads=1)
    result = featurize_batch(decoded(pd.Series(images)), engine)
    assert relative_error(np.stack(result["features"]), keras_features(keras_model, images)) < RELATIVE_TOLERANCE


def test_a_batch_mixing_good_and_bad_images_keeps_row_order(images, onnx_model):
    engine = OnnxRuntimeEngine(onnx_model.path, threads=1)
    contents = pd.Series([images[0], b"", images[1], b"not an image"])
    result = featurize_batch(decoded(contents), engine)
    assert list(result["error"].isna()) == [True, False, True, False]
    assert result["error"][1].startswith("empty file") and result["error"][3].startswith("not an image")
    alone = featurize_batch(decoded(pd.Series([images[1]])), engine)
    np.testing.assert_allclose(result["features"][2], alone["features"][0], rtol=1e-5, atol=1e-6)
    assert list(result["width"].fillna(0)) == [100, 0, 100, 0]


def test_converted_models_are_cached(model_cache, onnx_model):
    again = prepare_model("none", TEST_IMAGE_SIZE, "onnxruntime", model_cache, model_tools())
    assert again.from_cache and again.path == onnx_model.path
    other_size = prepare_model("none", 64, "onnxruntime", model_cache, model_tools())
    assert other_size.path != onnx_model.path


def test_a_weights_file_gives_the_same_model(tmp_path, keras_model, images, onnx_model):
    weights = tmp_path / "mobilenet_v2_random.weights.h5"
    keras_model.save_weights(weights)
    from_file = prepare_model(str(weights), TEST_IMAGE_SIZE, "onnxruntime", str(tmp_path / "cache"), model_tools())
    assert not from_file.weights_are_random
    ours = featurize_batch(decoded(pd.Series(images)), OnnxRuntimeEngine(from_file.path, 1))
    reference = featurize_batch(decoded(pd.Series(images)), OnnxRuntimeEngine(onnx_model.path, 1))
    assert relative_error(np.stack(ours["features"]), np.stack(reference["features"])) < RELATIVE_TOLERANCE


def test_missing_weights_file_is_named(model_cache):
    from orchard_features.model import ModelError

    with pytest.raises(ModelError, match="weights file not found: /nowhere/weights.h5"):
        prepare_model("/nowhere/weights.h5", TEST_IMAGE_SIZE, "onnxruntime", model_cache, model_tools())
