"""Images the feature store holds, read back as the rows the feature stage would have computed for them.

Each Spark task reads whole segments (its Python worker, `feature_store.read_stored`), every segment once, gives
Spark the same columns for each of its images as for a featurized one (path, label, split, content, width, height
and mode, and no error) and writes their stored features as its features file (`feature_files`), as a featurizing
task does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from orchard_contract.paths import label_from_path, split_from_path
from orchard_contract.run_outputs import LABEL, PATH, SPLIT, Column, ddl
from orchard_features.feature_files import REUSED_KIND, write_task_file
from orchard_features.feature_store import CONTENT, SEGMENT_COLUMNS, arrow_schema, read_stored
from orchard_features.features import ERROR, RESULT_COLUMNS

SEGMENT = Column("segment", "string")
PATHS = Column("paths", "array<string>")
CONTENTS = Column("contents", "array<string>")
WANTED_SCHEMA = ddl((SEGMENT, PATHS, CONTENTS))  # a segment, and the images to read from it
RESULT_SCHEMA = (PATH, LABEL, SPLIT, CONTENT, *RESULT_COLUMNS)  # the feature stage's rows


def stored_results(spark: SparkSession, folder: str, stored: Mapping[str, str], contents: Mapping[str, str],
                   images_per_partition: int, staging_folder: str) -> DataFrame:
    """The rows of RESULT_SCHEMA of the images in `stored` (path -> the segment holding it) read from this model's
    `folder` of the store, each checked against its `contents` (path -> content identity), their features written
    to `staging_folder`. At most about `images_per_partition` images to a task, and a task for every core while
    there are segments enough."""
    by_segment: dict[str, list[str]] = defaultdict(list)
    for path, segment in stored.items():
        by_segment[segment].append(path)
    rows = [(segment, paths, [contents[path] for path in paths]) for segment, paths in sorted(by_segment.items())]
    tasks = max(math.ceil(len(stored) / images_per_partition), spark.sparkContext.defaultParallelism)
    wanted = spark.createDataFrame(spark.sparkContext.parallelize(rows, max(1, min(len(rows), tasks))), WANTED_SCHEMA)
    schema = arrow_schema(RESULT_SCHEMA)

    def read(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        read_back = [read_stored(folder, segment, dict(zip(paths, images, strict=True)))
                     for batch in batches for segment, paths, images in zip(*batch.to_pydict().values(), strict=True)]
        rows = pa.concat_tables(read_back) if read_back else arrow_schema(SEGMENT_COLUMNS).empty_table()
        write_task_file(staging_folder, REUSED_KIND, rows)
        yield from result_rows(rows, schema)

    return wanted.mapInArrow(read, ddl(RESULT_SCHEMA))


def result_rows(stored: pa.Table, schema: pa.Schema) -> list[pa.RecordBatch]:
    """Stored rows as the feature stage's (`schema`): label and split from the path, no error."""
    paths = stored[PATH.name].to_pylist()
    columns = {
        **{name: stored[name] for name in stored.column_names},
        LABEL.name: pa.array([label_from_path(path) for path in paths], pa.string()),
        SPLIT.name: pa.array([split_from_path(path) for path in paths], pa.string()),
        ERROR.name: pa.nulls(len(paths), pa.string()),
    }
    return pa.table([columns[field.name] for field in schema], schema=schema).to_batches()
