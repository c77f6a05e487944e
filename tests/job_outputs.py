"""A feature job's outputs in miniature, in S3, as the job leaves them (job.py, storage.py).

The layout and the Parquet schemas are those Spark writes (checked against a local run of the
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

from orchard_local.account import INPUTS_BUCKET, OUTPUTS_BUCKET
from orchard_pipeline import outputs
from orchard_pipeline.outputs import PartFile
from orchard_pipeline.s3uri import split_s3_uri

OUTPUT_URI = f"s3://{OUTPUTS_BUCKET}/runs/mini-20261127T210501Z-1a2b3c4d/"
K = 5
SHARES = [0.375, 0.25, 0.125, 0.0625, 0.0625]  # exact in binary: they sum to 0.875
WRITE_ID = "3f6f1d9e-5c55-4a8e-9a43-0c2f8e3b6a71"  # Spark names a write's part files with one UUID
SCHEMAS = {
    "features": pa.schema([("path", pa.string()), ("label", pa.string()), ("features", pa.list_(pa.float32()))]),
    # vector_to_array's elements are not nullable
    "pca": pa.schema([("path", pa.string()), ("label", pa.string()), ("pca", pa.list_(pa.field("element", pa.float64(), nullable=False)))]),
    "metadata": pa.schema([
        ("path", pa.string()), ("label", pa.string()), ("split", pa.string()), ("width", pa.int32()),
        ("height", pa.int32()), ("mode", pa.string()), ("status", pa.string()),
    ]),
    "errors": pa.schema([("path", pa.string()), ("label", pa.string()), ("reason", pa.string())]),
}

@dataclass(frozen=True)
class JobOutputs:
    """A run's outputs in miniature, as the feature job writes them (job.py, storage.py)."""

    output_uri: str = OUTPUT_URI
    read: int = 12
    failed: int = 2
    files: int = 2  # part files per Parquet folder
    feature_length: int = outputs.FEATURE_DIMENSION
    pca_length: int = K

    @property
    def run_name(self) -> str:
        return self.output_uri.rstrip("/").rsplit("/", 1)[-1]

    @property
    def featurized(self) -> int:
        return self.read - self.failed

    def rows(self, folder: str) -> int:
        return {"features": self.featurized, "pca": self.featurized, "metadata": self.read, "errors": self.failed}[folder]

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
        failed = folder == "errors"
        paths = [f"s3://{INPUTS_BUCKET}/fruits-360/Training/Kiwi/{'broken_' if failed else ''}{i}_100.jpg" for i in rows]
        columns: dict[str, list[Any]] = {"path": paths, "label": ["Kiwi"] * len(rows)}
        if folder == "features":
            columns["features"] = [[math.sin(i * 1280 + j) for j in range(self.feature_length)] for i in rows]
        elif folder == "pca":
            columns["pca"] = [[float(i - j) for j in range(self.pca_length)] for i in rows]
        elif folder == "metadata":
            ok = [i < self.featurized for i in rows]
            columns |= {"split": ["Training"] * len(rows), "width": [100 if good else None for good in ok],
                        "height": [100 if good else None for good in ok], "mode": ["RGB" if good else None for good in ok],
                        "status": ["featurized" if good else "failed" for good in ok]}
        else:
            columns["reason"] = ["cannot decode image: cannot identify image file"] * len(rows)
        return pa.table(columns, schema=SCHEMAS[folder])

    def part_files(self) -> dict[str, list[PartFile]]:
        """What the footers of the part files say, worked out by hand: one value per row for a
        plain column, one per element for a vector column."""
        lengths = {"features": self.feature_length, "pca": self.pca_length}
        types = {"features": "LIST", "pca": "LIST", "width": "INT32", "height": "INT32"}
        found: dict[str, list[PartFile]] = {}
        for folder in outputs.OUTPUT_COLUMNS:
            found[folder] = []
            for name, rows in zip(self.part_names(folder), self.chunks(folder), strict=True):
                columns = {column: types.get(column, "BYTE_ARRAY") for column in SCHEMAS[folder].names}
                values = {column: len(rows) * lengths.get(column, 1) for column in columns}
                found[folder].append(PartFile(name=name, rows=len(rows), columns=columns, values=values))
        return found

    def model_info(self) -> dict[str, Any]:
        counts = {"images_read": self.read, "images_featurized": self.featurized, "images_failed": self.failed,
                  "classes": 1}
        return {
            "run": {"name": self.run_name, "started_at": "2026-11-27T21:09:12+00:00", "inputs": [f"s3://{INPUTS_BUCKET}/fruits-360/Training/"],
                    "output": self.output_uri, "selection": {"classes": ["Kiwi"], "max_per_class": 60, "max_images": 300, "seed": 42}},
            "counts": counts,
            "model": {"name": "MobileNetV2", "include_top": False, "pooling": "avg", "feature_dimension": 1280,
                      "weights": "imagenet", "weights_are_random": False, "weights_description": "ImageNet (Keras)",
                      "image_size": 224, "preprocessing": "RGB, bilinear resize", "engine": "onnxruntime", "batch_size": 64},
            "pca": {"k": K, "explained_variance": SHARES, "cumulative_explained_variance": list(accumulate(SHARES)),
                    "total_explained_variance": list(accumulate(SHARES))[-1]},
            "versions": {"python": "3.11.9", "pyspark": "3.5.6"},
            "timings_seconds": {"listing": 3.2, "model": 8.0, "feature_stage": 40.9, "features": 41.5, "pca": 6.1,
                                "outputs": 12.3, "total": 66.0},
            "throughput": {"images_per_minute_featurizing": 17.3},
        }

    def marker(self) -> dict[str, Any]:
        return {"run_name": self.run_name, "finished_at": "2026-11-27T21:10:18+00:00", "counts": self.model_info()["counts"]}


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


def write_outputs(s3: Any, job: JobOutputs, *, marker: bool = True, model_info: bool = True) -> None:
    """Put the run's outputs in S3 as the job leaves them, with the debris a Spark write leaves around them."""
    bucket, prefix = split_s3_uri(job.output_uri)

    def put(key: str, body: bytes | str = b"") -> None:
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=body)

    for folder in outputs.OUTPUT_COLUMNS:
        for name, rows in zip(job.part_names(folder), job.chunks(folder), strict=True):
            put(name, parquet_bytes(job.table(folder, rows)))
            put(name.replace("/part-", "/.part-") + ".crc", b"crc\x00\x00\x00\x00")
        put(f"{folder}/_SUCCESS")  # the Hadoop committer's marker in each folder: empty
        put(f"{folder}_$folder$")  # EMRFS directory marker
    # a stray task attempt: real Parquet, which must not be counted
    put(f"features/_temporary/0/_temporary/attempt_202611272109_0003_m_000000_3/part-00000-{WRITE_ID}-c000.snappy.parquet",
        parquet_bytes(job.table("features", range(3))))
    put("model_info/pca_model/metadata/part-00000", '{"class":"pyspark.ml.pipeline.PipelineModel"}\n')
    if model_info:
        put(outputs.MODEL_INFO_KEY, json.dumps(job.model_info(), indent=2) + "\n")
    if marker:
        put(outputs.SUCCESS_MARKER, json.dumps(job.marker(), indent=2) + "\n")
