"""The run's model, from its weights to a file on every executor.

`load_model`, what the job calls, fetches the weights when they are a URI, takes the model from the
model store when another run (on any cluster) converted it, else from the local cache or built and
exported for the engine now (`prepare_model`, the part without Spark) and then kept in the store;
and ships the file to the executors with `addFile` while they warm up.

Runs on the driver only. TensorFlow is imported here, only to build a model, and nowhere on the executors when the
engine is ONNX Runtime: the executors receive the converted `.onnx` file. Converted models are
cached by what determines them (weights, input size, engine, the model tools' pinned versions), so only the
first run with a given model pays for the conversion, and on EMR for installing the model tools (`model_tools`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from orchard_contract.errors import OrchardError
from orchard_contract.paths import has_scheme, join, to_uri
from orchard_features import storage
from orchard_features.features import warm_up_executors
from orchard_features.images import PREPROCESSING
from orchard_features.model_tools import ModelTools, check_installed, ensure_installed, model_tools
from orchard_features.progress import Progress
from orchard_features.quiet import quiet_tensorflow
from orchard_features.settings import JobSettings
from orchard_features.versions import installed_version, pinned_version

MODEL_NAME = "MobileNetV2"
ONNX_OPSET = 17
RANDOM_WEIGHTS_SEED = 1234
_CALIBRATION_BATCH = 8
_ARTIFACT_SUFFIX = {"onnxruntime": ".onnx", "tensorflow": ".keras"}


class ModelError(OrchardError):
    """The model cannot be built with the weights asked for."""


@dataclass(frozen=True)
class ModelArtifact:
    """A model file ready for the executors, and how it was made."""

    path: str
    key: str  # its `cache_key`
    engine: str
    image_size: int
    weights: str
    weights_are_random: bool
    from_cache: bool

    def describe_weights(self) -> str:
        """The weights in words, saying plainly when the features are not meaningful."""
        if self.weights_are_random:
            return (
                f"random (seed {RANDOM_WEIGHTS_SEED}, batch-norm statistics calibrated on noise): "
                "NOT ImageNet; the features are not meaningful"
            )
        return self.weights


def weights_identity(weights: str) -> str:
    """What identifies a set of weights in the cache: its name, or a local file's checksum."""
    if weights in ("imagenet", "none"):
        return weights
    if not os.path.isfile(weights):
        raise ModelError(f"weights file not found: {weights}")
    digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    return f"file-sha256-{digest}"


def cache_key(weights: str, image_size: int, engine: str, pins: Mapping[str, str]) -> str:
    """A key that changes whenever the exported model would; the converters' versions are their `pins` (the model
    tools' pins: `model_tools`), so that it is the same whether or not they are installed."""
    parts = {
        "model": MODEL_NAME,
        "weights": weights_identity(weights),
        "image_size": image_size,
        "engine": engine,
        "tensorflow": pinned_version(pins, "tensorflow"),
        "tf2onnx": pinned_version(pins, "tf2onnx") if engine == "onnxruntime" else None,
        "opset": ONNX_OPSET if engine == "onnxruntime" else None,
        "random_seed": RANDOM_WEIGHTS_SEED if weights == "none" else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def feature_fingerprint(artifact: ModelArtifact) -> str:
    """A key that changes whenever the features of an image could: the converted model (its cache key: weights,
    input size, engine, converter versions), the version of the engine's runtime and of Pillow, which decodes and
    resizes, and the preprocessing. It keys the feature store."""
    parts = {
        "model": artifact.key,
        "runtime": installed_version(artifact.engine),
        "pillow": installed_version("pillow"),
        "preprocessing": PREPROCESSING,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def cached_model_path(weights: str, image_size: int, engine: str, cache_dir: str, pins: Mapping[str, str]) -> Path:
    """Where the converted model lives in the local cache; its file name, content-keyed, names it
    wherever it is kept (the model store too)."""
    key = cache_key(weights, image_size, engine, pins)
    return Path(cache_dir) / f"mobilenet_v2-{key}{_ARTIFACT_SUFFIX[engine]}"


def build_keras_model(weights: str, image_size: int):
    """MobileNetV2 without its top, average-pooled to 1,280 features.

    `weights` is "imagenet", "none" (random, seeded, with batch-norm statistics calibrated on
    noise so that features have a sane scale), or a local weights file.
    """
    import keras

    keras.utils.set_random_seed(RANDOM_WEIGHTS_SEED)
    try:
        model = keras.applications.MobileNetV2(
            input_shape=(image_size, image_size, 3),
            include_top=False,
            pooling="avg",
            weights=None if weights == "none" else weights,
        )
    except ValueError as exc:
        raise ModelError(f"cannot build {MODEL_NAME} with weights {weights!r}: {exc}") from None
    except Exception as exc:  # Keras raises a bare Exception when the download fails
        if weights != "imagenet":
            raise
        raise ModelError(
            f"the ImageNet weights could not be downloaded ({exc}). Without internet access, "
            "give --weights a local path or s3:// URI of the Keras weights file "
            "(mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5), or 'none'."
        ) from None
    if weights == "none":
        _calibrate_batch_norm(model, image_size)
    return model


def _calibrate_batch_norm(model, image_size: int) -> None:
    """Set every batch-norm layer's moving statistics from one batch of uniform noise.

    A freshly initialised network has moving variance 1 everywhere, which shrinks its outputs
    to about 1e-12; calibrated statistics keep random features at a usable scale.
    """
    import keras
    import numpy as np

    noise = np.random.default_rng(RANDOM_WEIGHTS_SEED).uniform(
        -1.0, 1.0, (_CALIBRATION_BATCH, image_size, image_size, 3)
    )
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = 0.0
    model(noise.astype("float32"), training=True)
    for layer in layers:
        layer.momentum = 0.99


def export_model(model, engine: str, destination: Path) -> None:
    """Write `model` to `destination` in the format `engine` loads."""
    if engine == "tensorflow":
        model.save(destination)
        return
    import tensorflow as tf
    import tf2onnx

    size = model.input_shape[1]
    signature = [tf.TensorSpec([None, size, size, 3], tf.float32, name="images")]

    @tf.function(input_signature=signature)
    def features(images):
        return model(images, training=False)

    tf2onnx.convert.from_function(features, input_signature=signature, opset=ONNX_OPSET, output_path=str(destination))


def prepare_model(weights: str, image_size: int, engine: str, cache_dir: str, tools: ModelTools,
                  verbose: bool = False) -> ModelArtifact:
    """The model file for `engine`, from the cache or built and exported now by the pinned model `tools` (any
    other version is refused), quietly unless `verbose`.

    `weights` is "imagenet", "none" or a local weights file (fetch s3:// files first).
    """
    target = cached_model_path(weights, image_size, engine, cache_dir, tools.pins)
    from_cache = target.exists()
    if not from_cache:
        check_installed(tools)
        if not verbose:
            quiet_tensorflow()
        target.parent.mkdir(parents=True, exist_ok=True)
        model = build_keras_model(weights, image_size)
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            staged = Path(scratch) / target.name
            export_model(model, engine, staged)
            shutil.move(staged, target)  # atomic on one file system: no half-written cache entry
    return ModelArtifact(
        path=str(target),
        key=cache_key(weights, image_size, engine, tools.pins),
        engine=engine,
        image_size=image_size,
        weights=weights,
        weights_are_random=weights == "none",
        from_cache=from_cache,
    )


def fetch_weights(spark: SparkSession, weights: str, cache_dir: str) -> str:
    """A local path for `weights`: an s3:// (or other URI) file is copied to the cache first."""
    if not has_scheme(weights):
        return weights
    local = os.path.join(cache_dir, "weights", os.path.basename(weights))
    os.makedirs(os.path.dirname(local), exist_ok=True)
    storage.copy_to_local(spark, weights, local)
    return local


def fetch_stored_model(spark: SparkSession, store: str, local_path: str) -> bool:
    """Copy a converted model from the model store (folder or s3:// prefix), where it is kept under its
    file name, to `local_path`; False when the store has no such model."""
    location = join(to_uri(store), os.path.basename(local_path))
    if not storage.exists(spark, location):
        return False
    storage.copy_to_local(spark, location, local_path)
    return True


def store_model(spark: SparkSession, local_path: str, store: str) -> None:
    """Keep a converted model in the model store under its file name (one S3 object, written whole)."""
    storage.copy_from_local(spark, local_path, join(to_uri(store), os.path.basename(local_path)))


def obtain_model(spark: SparkSession, settings: JobSettings, progress: Progress) -> ModelArtifact:
    """The model file for this run: from the model store, the local cache, or built now (and then kept in the store),
    the model tools installed first where they were only staged (`--model-tools`, EMR's primary node)."""
    weights = fetch_weights(spark, settings.weights, settings.model_cache)
    tools = model_tools(settings.model_tools)
    cached = cached_model_path(weights, settings.image_size, settings.engine, settings.model_cache, tools.pins)
    if settings.model_store and not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        fetch_stored_model(spark, settings.model_store, str(cached))
    if not cached.exists():
        ensure_installed(tools, sys.prefix, progress)
    artifact = prepare_model(weights, settings.image_size, settings.engine, settings.model_cache, tools,
                             settings.verbose)
    if settings.model_store and not artifact.from_cache:
        store_model(spark, artifact.path, settings.model_store)
    return artifact


def load_model(spark: SparkSession, settings: JobSettings, progress: Progress | None = None) -> ModelArtifact:
    """Obtain the model for this run and ship it to the executors (`addFile`), warming them up meanwhile; an install
    of the model tools is a phase of `progress`.

    With a model store, a model that an earlier run (on any cluster) converted is copied from the
    store into the local cache instead of being built, and a model built now is kept there.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="orchard-warm-up") as pool:
        warming = pool.submit(warm_up_executors, spark)
        artifact = obtain_model(spark, settings, progress or Progress())
        spark.sparkContext.addFile(artifact.path)
        warming.result()
    return artifact
