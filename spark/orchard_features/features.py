"""Feature extraction: image files to 1,280 MobileNetV2 features, or the reason it failed.

`load_image` and `featurize_batch` are the body of the pandas UDF: plain Python and numpy,
testable without Spark. `extract_features` wraps them in an Arrow pandas UDF of the iterator form:
the engine is loaded once per Python worker and reused for every batch of every task that worker
runs, and the files of the next batches are read and decoded by the worker's threads while the
engine computes the current one (on S3 each read waits tens of milliseconds or more). Spark gets
back each image's error, size and mode; the features stay in Python: once its last batch is done,
each task writes them as its features file (`feature_files`) and, with a feature store, adds them to
the store.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark import Accumulator
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_contract.run_outputs import FEATURES, HEIGHT, MODE, PATH, WIDTH, Column, ddl
from orchard_features import feature_store
from orchard_features.engines import Engine, load_engine
from orchard_features.feature_files import FEATURIZED_KIND, write_task_file
from orchard_features.feature_store import CONTENT, SEGMENT_COLUMNS
from orchard_features.images import DecodedImage, ImageError, decode_image, preprocess
from orchard_features.sources import UnreadableFile, prefetched, read_bytes, reading_pool

DECODES_AT_ONCE = 2  # per Python worker, whose task has a core or two: more would only share them
_DECODING = threading.BoundedSemaphore(DECODES_AT_ONCE)
ERROR = Column("error", "string")  # why the image failed, null when it did not (`reason` in errors/)
# The UDF's result, what Spark keeps of each image: the error, and the output columns read from the image file.
RESULT_COLUMNS = (ERROR, WIDTH, HEIGHT, MODE)
FEATURE_RESULT_SCHEMA = ddl(RESULT_COLUMNS)
RESULT_NAMES = [column.name for column in RESULT_COLUMNS]
BATCH_COLUMNS = (FEATURES, *RESULT_COLUMNS)  # a batch's result in the worker: the features too
WARM_UP_PATH = "warm-up"  # the warm-up's rows: one per core, never read


@dataclass(frozen=True)
class ExtractorSpec:
    """What the executors need to turn image files into features."""

    engine: str
    model_file: str  # a name registered with SparkContext.addFile
    image_size: int
    max_image_pixels: int
    staging_folder: str  # where each task writes its features file (`feature_files`)
    store_folder: str | None = None  # this model's folder in the feature store, where each task adds its features


def decode_or_reason(data: bytes, image_size: int, max_image_pixels: int) -> DecodedImage | ImageError:
    """The decoded image, or the `ImageError` saying why it cannot be used."""
    try:
        return decode_image(data, image_size, max_image_pixels)
    except ImageError as exc:
        return exc


def load_image(path: str, image_size: int, max_image_pixels: int) -> DecodedImage | ImageError:
    """Read and decode one file; what goes wrong (a vanished file, a corrupt image) is its reason.

    Many reads wait at once, few decodes run at once: a large PNG takes hundreds of MB while decoded.
    """
    try:
        data = read_bytes(path)
    except UnreadableFile as exc:
        return ImageError(str(exc))
    with _DECODING:
        return decode_or_reason(data, image_size, max_image_pixels)


def featurize_batch(images: Sequence[DecodedImage | ImageError], engine: Engine,
                    buffer: np.ndarray | None = None) -> pd.DataFrame:
    """Features for a batch of decoded images; rows that failed carry their reason instead.

    One engine call per batch, on the images that decoded, preprocessed into `buffer` when given.
    """
    rows = [result_row(image) for image in images]
    decoded = [image for image in images if not isinstance(image, ImageError)]
    if decoded:
        features = engine.predict(preprocess([image.pixels for image in decoded], buffer))
        decoded_rows = (row for row in rows if row[ERROR.name] is None)
        for row, vector in zip(decoded_rows, features, strict=True):
            row[FEATURES.name] = vector
    integers = {column.name: "Int32" for column in BATCH_COLUMNS if column.type == "int"}  # nullable
    return pd.DataFrame(rows, columns=[column.name for column in BATCH_COLUMNS]).astype(integers)


def result_row(image: DecodedImage | ImageError) -> dict[str, Any]:
    """An image's row of the result, its features still to come: what the file was, or why it failed."""
    row = dict.fromkeys(column.name for column in BATCH_COLUMNS)
    if isinstance(image, ImageError):
        return row | {ERROR.name: str(image)}
    return row | {WIDTH.name: image.width, HEIGHT.name: image.height, MODE.name: image.mode}


def _task_cores() -> int:
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.cpus() if context is not None else 1


def extract_features(images: DataFrame, spec: ExtractorSpec, done: Accumulator) -> DataFrame:
    """Add a `result` struct of RESULT_COLUMNS (error, width, height, mode) computed from the file at `path`; each
    task then writes the features of the images it featurized as its features file in `spec.staging_folder` and,
    with `spec.store_folder`, adds them, with their `content` identity, to the feature store, as one segment.

    `done` counts the images processed, for progress reports.
    """

    def featurize(batches: Iterator[tuple[pd.Series, pd.Series]]) -> Iterator[pd.DataFrame]:
        from pyspark import SparkFiles

        engine = load_engine(spec.engine, SparkFiles.get(spec.model_file), _task_cores())

        def load(path: str) -> DecodedImage | ImageError:
            return load_image(path, spec.image_size, spec.max_image_pixels)

        in_flight: deque[tuple[pd.Series, pd.Series]] = deque()  # the batches being read, oldest first

        def paths_of(batches: Iterator[tuple[pd.Series, pd.Series]]) -> Iterator[pd.Series]:
            for paths, contents in batches:
                in_flight.append((paths, contents))
                yield paths

        featurized: list[pa.Table] = []
        buffer = np.empty((0, spec.image_size, spec.image_size, 3), dtype=np.float32)
        for images in prefetched(paths_of(batches), load, reading_pool()):
            if len(images) > len(buffer):
                buffer = np.empty((len(images), *buffer.shape[1:]), dtype=np.float32)
            results = featurize_batch(images, engine, buffer)
            yield results[RESULT_NAMES]
            paths, contents = in_flight.popleft()
            featurized.append(feature_store.stored_rows(paths, contents, results))
            done.add(len(images))
        rows = pa.concat_tables(featurized) if featurized else feature_store.arrow_schema(SEGMENT_COLUMNS).empty_table()
        write_task_file(spec.staging_folder, FEATURIZED_KIND, rows)
        if spec.store_folder and rows.num_rows:
            feature_store.write_segment(spec.store_folder, rows)

    # pyspark's stubs have no overload for the UDF type inferred from the type hints (no functionType)
    featurize_udf = F.pandas_udf(featurize, FEATURE_RESULT_SCHEMA)  # type: ignore[call-overload]
    return images.withColumn("result", featurize_udf(PATH.name, CONTENT.name))


def warm_up_executors(spark: SparkSession) -> None:
    """Start a Python worker, its libraries loaded, on every executor core: one row per core through a pandas
    UDF that only imports what the tasks that follow need: this module and all it imports (the features files,
    the PCA's moments, Spark ML: 0.7 s in a fresh Python, measured), and ONNX Runtime.

    Spark keeps those workers for the tasks that follow, and the JVM's Arrow path is taken once: the fixed
    costs of a new Spark application's first pandas UDF, paid while the driver prepares the model.
    """

    def load_libraries(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        import onnxruntime  # noqa: F401  (loaded for the tasks that follow)

        import orchard_features.features  # noqa: F401

        yield from batches

    cores = spark.sparkContext.defaultParallelism
    paths = spark.createDataFrame(spark.sparkContext.parallelize([(WARM_UP_PATH,)] * cores, cores), ddl((PATH,)))
    udf = F.pandas_udf(load_libraries, "string")  # type: ignore[call-overload]  # as in extract_features
    paths.select(udf(PATH.name).alias(PATH.name)).write.format("noop").mode("overwrite").save()
