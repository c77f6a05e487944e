"""The run's features as Parquet files that the Python workers write themselves: staged while the feature stage
runs, moved into `features/` once the run's outputs are replaced, and read back by the workers for the PCA.

The features never enter the JVM. A feature-stage task (featurizing images, or reading them back from the feature
store) writes the features of its partition as one file, `part-<kind>-<partition>.parquet` (path, label, features:
FEATURES_OUTPUT's columns), in the run's staging folder, a hidden folder under the output prefix; Spark keeps only
the small columns (error, size, mode). A retried or speculative attempt of a task writes the same name for the
same images, whose features the same model computes alike: an attempt never adds a file, and the partition's file
is whole whichever attempt's it is (`store_files.create_file`). Whatever the run does with the features then reads
these files in Python: their moments (`file_moments`), their projections on the principal components
(`projections`).

Measured on 12,000 images on 2 cores (docs/performance.md): Spark's Parquet writer took 5.7 s to write the
features from its cached rows, value by value; these files take milliseconds each to write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession

from orchard_contract.paths import join, label_from_path, to_uri
from orchard_contract.run_outputs import FEATURE_DIMENSION, FEATURES, FEATURES_OUTPUT, LABEL, PATH, PCA, ddl
from orchard_features.feature_store import arrow_schema, parquet_bytes
from orchard_features.pca import MOMENTS_SCHEMA, Moments, PcaResult, encoded, merged, merged_partials, projected
from orchard_features.store_files import create_file, list_names, move_file, read_file

FEATURE_FILE_SCHEMA = arrow_schema(FEATURES_OUTPUT.columns)
FEATURIZED_KIND, REUSED_KIND = "featurized", "reused"  # the two kinds of task that write features
SUFFIX = ".parquet"
STAGING = "_staging"
FILE_SCHEMA = "file string"  # a frame of feature files, one location to a row
PROJECTION_SCHEMA = ddl((PATH, LABEL, PCA))
BLOCK_ROWS = 8192  # features a scatter product takes at once: 84 MB of float64
MOVERS = 16  # files moved at once: on S3 each is a CopyObject and a DeleteObject of tens of milliseconds


def staging_folder(output: str) -> str:
    """The run's staging folder under `output`, hidden from readers (Spark, the check of the outputs and the job's
    listing skip names starting with `_`)."""
    return join(to_uri(output), STAGING)


def task_file(folder: str, kind: str) -> str:
    """The features file of the running Spark task's partition in `folder`."""
    from pyspark import TaskContext

    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    return join(folder, f"part-{kind}-{partition:05d}{SUFFIX}")


def features_table(paths: Sequence[str], features: pa.Array) -> pa.Table:
    """FEATURES_OUTPUT's rows of images at `paths` with their `features` (list<float>): the label from the path."""
    labels = pa.array([label_from_path(path) for path in paths], pa.string())
    return pa.table([pa.array(paths, pa.string()), labels, features], schema=FEATURE_FILE_SCHEMA)


def write_task_file(folder: str, kind: str, rows: pa.Table) -> None:
    """Write the running task's features file (`rows` with a path and a features column) unless it has no rows."""
    if rows.num_rows:
        create_file(task_file(folder, kind), parquet_bytes(
            features_table(rows[PATH.name].to_pylist(), rows[FEATURES.name].combine_chunks())))


def feature_files(folder: str) -> list[str]:
    """The locations of the features files in `folder`, sorted."""
    return [join(folder, name) for name in list_names(folder) if name.endswith(SUFFIX)]


def read_features(location: str) -> pa.Table:
    """A features file's rows."""
    return pq.read_table(pa.BufferReader(read_file(location)), schema=FEATURE_FILE_SCHEMA)


def feature_matrix(table: pa.Table) -> np.ndarray:
    """The features of a file's rows as a float32 (rows, 1,280) matrix, without copying."""
    values = table[FEATURES.name].combine_chunks().flatten().to_numpy()
    return values.reshape(-1, FEATURE_DIMENSION)


def move_files(files: Sequence[str], destination: str) -> list[str]:
    """Move `files` into the folder `destination`, several at once, keeping their names; their new locations."""
    moved = [join(destination, location.rsplit("/", 1)[-1]) for location in files]
    with ThreadPoolExecutor(max_workers=MOVERS, thread_name_prefix="orchard-move") as pool:
        list(pool.map(move_file, files, moved))
    return moved


def files_frame(spark: SparkSession, files: Sequence[str]) -> DataFrame:
    """A frame of `files`, one to a row, spread over a task for each core while there are files enough."""
    tasks = max(1, min(len(files), spark.sparkContext.defaultParallelism))
    return spark.createDataFrame(spark.sparkContext.parallelize([(file,) for file in files], tasks), FILE_SCHEMA)


def file_moments(spark: SparkSession, files: Sequence[str]) -> Moments | None:
    """The moments of every feature in `files` (None when there are none): each task reads its files, the partial
    moments are merged as `pca.merged_partials` does."""
    frame = files_frame(spark, files)
    return merged_partials(frame.mapInPandas(moments_of_files, MOMENTS_SCHEMA), frame.rdd.getNumPartitions())


def moments_of_files(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The moments of the features in the files of one partition of a `files_frame`: the body of `mapInPandas`."""
    matrices = (feature_matrix(read_features(file)) for batch in batches for file in batch["file"])
    yield from encoded(merged(Moments.of(block) for block in blocks_of(matrices)))


def blocks_of(matrices: Iterable[np.ndarray], rows: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
    """`matrices` stacked into float64 blocks of at least `rows` rows each (the last may have fewer; none is empty):
    one scatter product and one merge a block, not a file (measured at 12,000 images: a file of 512 rows at a time, the
    task's merges of 13 MB matrices took as long as its products)."""
    pending: list[np.ndarray] = []
    for matrix in matrices:
        pending.append(matrix)
        if sum(map(len, pending)) >= rows:
            yield np.concatenate(pending, dtype=np.float64)
            pending = []
    if sum(map(len, pending)):
        yield np.concatenate(pending, dtype=np.float64)


def projections(spark: SparkSession, files: Sequence[str], pca: PcaResult) -> DataFrame:
    """PCA_OUTPUT's rows (path, label, pca) of every image in `files`, projected by the workers."""
    mean, components = pca.mean, pca.components
    schema = arrow_schema((PATH, LABEL)).append(pa.field(PCA.name, pa.list_(pa.float64())))

    def project_files(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for file in batch.column(0).to_pylist():
                table = read_features(file)
                projections = projected(feature_matrix(table), mean, components)
                vectors = pa.FixedSizeListArray.from_arrays(projections.ravel(), projections.shape[1])
                yield pa.RecordBatch.from_arrays(
                    [table[PATH.name].combine_chunks(), table[LABEL.name].combine_chunks(),
                     vectors.cast(pa.list_(pa.float64()))], schema=schema)

    return files_frame(spark, files).mapInArrow(project_files, PROJECTION_SCHEMA)
