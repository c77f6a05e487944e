"""Quiet runs: Orchard's lines only, each library's own logging switched down at its source.

Every switch here is skipped with `--verbose` (the job's command line and both demos'): each
library then logs as it does by default.
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path

# Errors and above, on the scale TensorFlow's C++ logs and absl's share (0 INFO, 1 WARNING, 2 ERROR, 3 FATAL).
MIN_LOG_LEVEL = 2
# TensorFlow's own C++ logs (the oneDNN and CPU-feature banners at import): read where TensorFlow loads, this
# process and the Spark Python workers, which inherit it through the JVM started after it is set.
TENSORFLOW_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": str(MIN_LOG_LEVEL)}
# absl's C++ logs, which TF_CPP_MIN_LOG_LEVEL does not reach: TensorFlow 2.20's graph optimizer, run by tf2onnx,
# logs through absl ("All log messages before absl::InitializeLog() ...", "Number of eligible GPUs",
# "Starting new session"). absl::SetMinLogLevel as TensorFlow's framework library exports it, named in the
# namespace of the absl release TensorFlow bundles; absent from a TensorFlow bundling another, which then logs.
ABSL_SET_MIN_LOG_LEVEL = "_ZN4absl12lts_2025012714SetMinLogLevelENS0_18LogSeverityAtLeastE"
# Python's logging: warnings and above, as an unconfigured process shows them, but from a handler of the root
# logger that keeps this level whatever the root logger's becomes. Without it, absl configures the root logger
# (`logging.basicConfig()`) on its first message (Keras' once they go to absl), and the workflow demo's
# in-process Lambdas lower its level to INFO (crhelper, as in Lambda): py4j's, parquet's, tf2onnx's INFO show.
PYTHON_LOG_LEVEL = logging.WARNING
# Spark's log4j2 logs, errors only from the JVM's start (local runs: spark-submit on EMR brings its own logging);
# what the file leaves out, and why, is said in it.
LOG4J2_CONFIGURATION = Path(__file__).resolve().with_name("log4j2-quiet.properties")  # absolute, as URIs are
LOG4J2_JAVA_OPTION = f"-Dlog4j2.configurationFile={LOG4J2_CONFIGURATION.as_uri()}"
# Spark's log4j2 logs from the session's start, wherever it runs.
SPARK_LOG_LEVEL = "ERROR"


def quiet_run() -> None:
    """The switches for the whole run, set before Spark starts: the environment's and Python logging's."""
    quiet_environment()
    handler = logging.StreamHandler()
    handler.setLevel(PYTHON_LOG_LEVEL)
    logging.basicConfig(handlers=[handler])  # nothing if the root logger has handlers already


def quiet_environment() -> None:
    """The switches read from the environment, for this process and those started after (the JVM, its workers);
    a value already set is kept."""
    for name, value in TENSORFLOW_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def quiet_tensorflow() -> None:
    """Before building a model on this thread: TensorFlow's and absl's C++ logs at errors, and Keras' messages
    (the weights download's "Downloading data from ...") sent to absl's Python logging, which shows no INFO,
    instead of stdout. Keras keeps that setting per thread."""
    quiet_environment()
    import keras
    import tensorflow as tf

    keras.config.disable_interactive_logging()
    framework = next(Path(tf.sysconfig.get_lib()).glob("libtensorflow_framework*"), None)
    set_min_log_level = getattr(ctypes.CDLL(str(framework)), ABSL_SET_MIN_LOG_LEVEL, None) if framework else None
    if set_min_log_level is not None:
        set_min_log_level(MIN_LOG_LEVEL)
