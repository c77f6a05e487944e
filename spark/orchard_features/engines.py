"""Inference engines that run an exported MobileNetV2 on batches of preprocessed images.

Loaded on the executors, once per Python worker (`load_engine` is cached), with as many
threads as the Spark task has cores so that concurrent tasks never oversubscribe the CPU.
ONNX Runtime needs no TensorFlow; the TensorFlow engine is kept selectable for comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

import numpy as np


class Engine(Protocol):
    """Runs the feature extractor: float32 (n, size, size, 3) in [-1, 1] -> float32 (n, 1280)."""

    def predict(self, images: np.ndarray) -> np.ndarray: ...


class OnnxRuntimeEngine:
    """MobileNetV2 converted to ONNX, run by ONNX Runtime on the CPU."""

    def __init__(self, model_path: str, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: images})[0]


class TensorFlowEngine:
    """The Keras model itself, run by TensorFlow as a compiled graph."""

    def __init__(self, model_path: str, threads: int) -> None:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already runs in this process (it built the model): keep its pools
            pass
        model = tf.keras.models.load_model(model_path, compile=False)

        @tf.function(reduce_retracing=True)
        def features(images):
            return model(images, training=False)

        self._function = features

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self._function(images).numpy()


ENGINE_CLASSES: dict[str, Callable[[str, int], Engine]] = {
    "onnxruntime": OnnxRuntimeEngine, "tensorflow": TensorFlowEngine,
}


@lru_cache(maxsize=2)
def load_engine(engine: str, model_path: str, threads: int) -> Engine:
    """The engine for `model_path`, built on first use in this process and then reused."""
    return ENGINE_CLASSES[engine](model_path, threads)
