"""A feature job's outputs in miniature, in S3, as the job leaves them (job.py, storage.py).

The columns are those orchard_contract declares (`run_outputs`), the documents follow its schemas
(`run_outputs`). The Parquet types are those Spark writes (checked against a local run of the
job: arrays are Parquet lists, `pca`'s elements not null, an empty output is one part file
without row groups), with the debris a Spark write leaves around them.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from orchard_contract.run_outputs import (
    FAILED,
    FEATURE_DIMENSION,
    FEATURES,
    FEATURES_OUTPUT,
    FEATURIZED,
    HEIGHT,
    LABEL,
    MODE,
    MODEL_INFO_DOCUMENT,
    PARQUET_OUTPUTS,
    PATH,
    PCA,
    REASON,
    SPLIT,
    STATUS,
    SUCCESS_MARKER_DOCUMENT,
    WIDTH,
    Column,
    ParquetOutput,
)
from orchard_functions.outputs import LIST, PartFile
from orchard_functions.s3uri import split_s3_uri
from orchard_local.account import INPUTS_BUCKET, OUTPUTS_BUCKET

OUTPUT_URI = f"s3://{OUTPUTS_BUCKET}/runs/mini-20261127T210501Z-1a2b3c4d/"
K = 5
SHARES = [0.375, 0.25, 0.125, 0.0625, 0.0625]  # exact in binary: they sum to 0.875
WRITE_ID = "3f6f1d9e-5c55-4a8e-9a43-0c2f8e3b6a71"  # Spark names a write's part files with one UUID
# What Spark writes for each Spark SQL type: its Arrow type, and the physical type a Parquet footer gives it.
ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int32(),
    "array<float>": pa.list_(pa.float32()),
    "array<double>": pa.list_(pa.field("element", pa.float64(), nullable=False)),  # vector_to_array's: not null
}
FOOTER_TYPES = {"string": "BYTE_ARRAY", "int": "INT32", "array<float>": LIST, "array<double>": LIST}
OUTPUTS_BY_FOLDER = {output.folder: output for output in PARQUET_OUTPUTS}


def arrow_schema(output: ParquetOutput) -> pa.Schema:
    return pa.schema([(column.name, ARROW_TYPES[column.type]) for column in output.columns])


@dataclass(frozen=True)
class JobOutputs:
    """A run's outputs in miniature, as the feature job writes them (job.py, storage.py)."""

    output_uri: str = OUTPUT_URI
    read: int = 12
    failed: int = 2
    reused: int = 4  # of the images with features, read back from the feature store
    files: int = 2  # part files per Parquet folder
    feature_length: int = FEATURE_DIMENSION
    pca_length: int = K
    run_name: str = "mini"  # recorded in model_info.json and _SUCCESS

    @property
    def with_features(self) -> int:
        return self.read - self.failed

    def counts(self) -> dict[str, int]:
        return {"images_read": self.read, "images_featurized": self.with_features - self.reused,
                "images_reused": self.reused, "images_failed": self.failed, "classes": 1}

    def rows(self, folder: str) -> int:
        return OUTPUTS_BY_FOLDER[folder].rows(self.counts())

    def part_names(self, folder: str) -> list[str]:
        """Spark writes one part file per task; an empty result still gets one (with no row group)."""
        count = self.files if self.rows(folder) else 1
        return [f"{folder}/part-{i:05d}-{WRITE_ID}-c000.snappy.parquet" for i in range(count)]

    def chunks(self, folder: str) -> list[range]:
        """Which rows go to which part file."""
        names, rows = self.part_names(folder), self.rows(folder)
        bounds = [rows * i // len(names) for i in range(len(names) + 1)]
        return [range(start, stop) for start, stop in zip(bounds, bounds[1:], strict=False)]

    def table(self, folder: str, rows: range) -> pa.Table:
        """The rows of one part file, with the job's columns and types."""
        output = OUTPUTS_BY_FOLDER[folder]
        columns = {column.name: self.values(column, rows, failed=folder == "errors") for column in output.columns}
        return pa.table(columns, schema=arrow_schema(output))

    def values(self, column: Column, rows: range, failed: bool) -> list[Any]:
        """A column's values in `rows` (of errors/ when `failed`): the first images featurized, the others failed;
        null in a column the fake knows nothing of."""
        featurized = [i < self.with_features for i in rows]
        broken = "broken_" if failed else ""
        made = {
            PATH: lambda: [f"s3://{INPUTS_BUCKET}/fruits-360/Training/Kiwi/{broken}{i}_100.jpg" for i in rows],
            LABEL: lambda: ["Kiwi"] * len(rows),
            SPLIT: lambda: ["Training"] * len(rows),
            FEATURES: lambda: [[math.sin(i * 1280 + j) for j in range(self.feature_length)] for i in rows],
            PCA: lambda: [[float(i - j) for j in range(self.pca_length)] for i in rows],
            WIDTH: lambda: [100 if good else None for good in featurized],
            HEIGHT: lambda: [100 if good else None for good in featurized],
            MODE: lambda: ["RGB" if good else None for good in featurized],
            STATUS: lambda: [FEATURIZED if good else FAILED for good in featurized],
            REASON: lambda: ["cannot decode image: cannot identify image file"] * len(rows),
        }
        return made.get(column, lambda: [None] * len(rows))()

    def part_files(self) -> dict[str, list[PartFile]]:
        """What the footers of the part files say, worked out by hand: one value per row for a
        plain column, one per element for a vector column."""
        lengths = {FEATURES.name: self.feature_length, PCA.name: self.pca_length}
        found: dict[str, list[PartFile]] = {}
        for output in PARQUET_OUTPUTS:
            found[output.folder] = []
            for name, rows in zip(self.part_names(output.folder), self.chunks(output.folder), strict=True):
                columns = {column.name: FOOTER_TYPES[column.type] for column in output.columns}
                values = {column: len(rows) * lengths.get(column, 1) for column in columns}
                found[output.folder].append(PartFile(name=name, rows=len(rows), columns=columns, values=values))
        return found

    def model_info(self) -> dict[str, Any]:
        return {
            "model_info_version": MODEL_INFO_DOCUMENT.version,
            "run": {"name": self.run_name, "started_at": "2026-11-27T21:09:12+00:00", "inputs": [f"s3://{INPUTS_BUCKET}/fruits-360/Training/"],
                    "output": self.output_uri, "selection": {"classes": ["Kiwi"], "max_per_class": 60, "max_images": 300, "seed": 42},
                    "feature_store": f"s3://{OUTPUTS_BUCKET}/feature-store/", "reuse_features": True},
            "counts": self.counts(),
            "model": {"name": "MobileNetV2", "include_top": False, "pooling": "avg", "feature_dimension": 1280,
                      "weights": "imagenet", "weights_are_random": False, "weights_description": "ImageNet (Keras)",
                      "image_size": 224, "preprocessing": "RGB, bilinear resize", "engine": "onnxruntime", "batch_size": 64,
                      "fingerprint": "0123456789abcdef01234567"},
            "pca": {"k": K, "explained_variance": SHARES, "cumulative_explained_variance": list(accumulate(SHARES)),
                    "total_explained_variance": list(accumulate(SHARES))[-1]},
            "versions": {"python": "3.11.9", "pyspark": "3.5.6"},
            "timings_seconds": {"listing": 3.2, "model": 8.0, "feature_stage": 40.9, "features": 41.5, "pca": 6.1,
                                "outputs": 12.3, "total": 66.0},
            "throughput": {"images_per_minute_featurizing": 17.3},
        }

    def marker(self) -> dict[str, Any]:
        return {"marker_version": SUCCESS_MARKER_DOCUMENT.version, "run_name": self.run_name,
                "finished_at": "2026-11-27T21:10:18+00:00", "counts": self.counts()}


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


def write_outputs(s3: Any, job: JobOutputs, *, marker: bool = True, model_info: bool = True) -> None:
    """Put the run's outputs in S3 as the job leaves them, with the debris a Spark write leaves around them."""
    bucket, prefix = split_s3_uri(job.output_uri)

    def put(key: str, body: bytes | str = b"") -> None:
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=body)

    for folder in OUTPUTS_BY_FOLDER:
        for name, rows in zip(job.part_names(folder), job.chunks(folder), strict=True):
            put(name, parquet_bytes(job.table(folder, rows)))
            put(name.replace("/part-", "/.part-") + ".crc", b"crc\x00\x00\x00\x00")
        put(f"{folder}/_SUCCESS")  # the Hadoop committer's marker in each folder: empty
        put(f"{folder}_$folder$")  # EMRFS directory marker
    # a stray task attempt: real Parquet, which must not be counted
    put(f"features/_temporary/0/_temporary/attempt_202611272109_0003_m_000000_3/part-00000-{WRITE_ID}-c000.snappy.parquet",
        parquet_bytes(job.table(FEATURES_OUTPUT.folder, range(3))))
    put("model_info/pca_model/metadata/part-00000", '{"class":"pyspark.ml.pipeline.PipelineModel"}\n')
    if model_info:
        put(MODEL_INFO_DOCUMENT.key, json.dumps(job.model_info(), indent=2) + "\n")
    if marker:
        put(SUCCESS_MARKER_DOCUMENT.key, json.dumps(job.marker(), indent=2) + "\n")
