"""Feature extraction: image bytes to 1,280 MobileNetV2 features, or the reason it failed.

`featurize_batch` is the body of the pandas UDF: plain pandas and numpy, testable without
Spark. `extract_features` wraps it in an Arrow pandas UDF of the iterator form, so the engine
is loaded once per Python worker and reused for every batch of every task that worker runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark import Accumulator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from orchard_features.engines import Engine, load_engine
from orchard_features.images import ImageError, decode_image, preprocess

FEATURE_RESULT_SCHEMA = "features array<float>, error string, width int, height int, mode string"
RESULT_COLUMNS = ["features", "error", "width", "height", "mode"]


@dataclass(frozen=True)
class FeatureSettings:
    """What the executors need to turn image bytes into features."""

    engine: str
    model_file: str  # a name registered with SparkContext.addFile
    image_size: int
    max_image_pixels: int


def featurize_batch(contents: pd.Series, engine: Engine, image_size: int, max_image_pixels: int) -> pd.DataFrame:
    """Features for a batch of encoded images; rows that fail carry an error instead.

    One engine call per batch, on the images that decoded.
    """
    rows: list[dict] = []
    pixels: list[np.ndarray] = []
    for data in contents:
        try:
            image = decode_image(data, image_size, max_image_pixels)
        except ImageError as exc:
            rows.append({"features": None, "error": str(exc), "width": None, "height": None, "mode": None})
            continue
        rows.append({"features": None, "error": None, "width": image.width, "height": image.height, "mode": image.mode})
        pixels.append(image.pixels)
    if pixels:
        features = engine.predict(preprocess(np.stack(pixels)))
        decoded_rows = (row for row in rows if row["error"] is None)
        for row, vector in zip(decoded_rows, features, strict=True):
            row["features"] = vector
    return pd.DataFrame(rows, columns=RESULT_COLUMNS).astype({"width": "Int32", "height": "Int32"})


def _task_cores() -> int:
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.cpus() if context is not None else 1


def extract_features(images: DataFrame, settings: FeatureSettings, done: Accumulator) -> DataFrame:
    """Add a `result` struct (features, error, width, height, mode) computed from `content`.

    `done` counts the images processed, for progress reports.
    """

    def featurize(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        from pyspark import SparkFiles

        engine = load_engine(settings.engine, SparkFiles.get(settings.model_file), _task_cores())
        for contents in batches:
            yield featurize_batch(contents, engine, settings.image_size, settings.max_image_pixels)
            done.add(len(contents))

    featurize_udf = F.pandas_udf(featurize, FEATURE_RESULT_SCHEMA)
    return images.withColumn("result", featurize_udf("content")).drop("content")
