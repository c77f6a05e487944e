"""Every write of the job, and the reads of single files: the module that knows output paths and formats.

Files go through Hadoop's FileSystem API from the driver, so one code path serves local
folders in local mode and s3:// prefixes on EMR (EMRFS). The images themselves are listed and
read by `sources`.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from orchard_contract.paths import join, to_uri
from orchard_contract.run_outputs import OUTPUT_FOLDERS, SUCCESS_MARKER, RunDocument
from orchard_features.sources import InputError


def _hadoop_path(spark: SparkSession, location: str):
    jvm = spark.sparkContext._jvm
    assert jvm is not None, "the SparkContext has stopped"
    path = jvm.org.apache.hadoop.fs.Path(to_uri(location))
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def exists(spark: SparkSession, location: str) -> bool:
    """Whether a file or folder exists."""
    path, fs = _hadoop_path(spark, location)
    return fs.exists(path)


def read_text(spark: SparkSession, location: str) -> str:
    """A small text file's content (a manifest, say), with a clear error when it is missing."""
    path, fs = _hadoop_path(spark, location)
    if not fs.exists(path):
        raise InputError(f"file not found: {location}")
    stream = fs.open(path)
    try:
        jvm = spark.sparkContext._jvm
        assert jvm is not None, "the SparkContext has stopped"
        reader = jvm.java.io.InputStreamReader(stream, "UTF-8")
        return jvm.org.apache.commons.io.IOUtils.toString(reader)
    finally:
        stream.close()


def write_text(spark: SparkSession, location: str, text: str) -> None:
    """Write a small text file, replacing any previous one."""
    path, fs = _hadoop_path(spark, location)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def delete(spark: SparkSession, location: str) -> None:
    """Delete a file or folder if it exists."""
    path, fs = _hadoop_path(spark, location)
    fs.delete(path, True)


def copy_to_local(spark: SparkSession, location: str, local_path: str) -> None:
    """Copy a file (e.g. an s3:// weights file) to the driver's disk, where it appears whole or not at all."""
    path, fs = _hadoop_path(spark, location)
    if not fs.exists(path):
        raise InputError(f"file not found: {location}")
    staged = f"{local_path}.{uuid.uuid4().hex}.partial"
    fs.copyToLocalFile(False, path, _hadoop_path(spark, staged)[0], True)
    os.replace(staged, local_path)


def copy_from_local(spark: SparkSession, local_path: str, location: str) -> None:
    """Copy a local file or folder (e.g. the report) to the output location."""
    path, fs = _hadoop_path(spark, location)
    fs.copyFromLocalFile(False, True, _hadoop_path(spark, local_path)[0], path)


def output_location(output: str, name: str) -> str:
    """Where one of the job's outputs lives under the output prefix."""
    return join(to_uri(output), name)


def clear_outputs(spark: SparkSession, output: str) -> None:
    """Remove a previous run's results: the success marker first, then each output folder.

    Only the job's own names are touched; anything else under the prefix stays.
    """
    delete(spark, output_location(output, SUCCESS_MARKER))
    for name in OUTPUT_FOLDERS:
        delete(spark, output_location(output, name))


def write_parquet(frame: DataFrame, output: str, name: str, dictionary: bool = True) -> None:
    """Write one output as Parquet; `dictionary=False` for float vectors, which never repeat
    (dictionary encoding them is wasted work: it halves the write time of `features/`)."""
    writer = frame.write.mode("overwrite").option("parquet.enable.dictionary", str(dictionary).lower())
    writer.parquet(output_location(output, name))


def write_csv(frame: DataFrame, output: str, name: str, array_column: str, width: int) -> None:
    """Write one output as CSV with a header, its array column spread over numbered columns."""
    others = [F.col(column) for column in frame.columns if column != array_column]
    spread = [F.col(array_column)[i].alias(f"{array_column}_{i}") for i in range(width)]
    frame.select(*others, *spread).write.mode("overwrite").option("header", "true").csv(output_location(output, name))


def write_document(spark: SparkSession, output: str, kind: RunDocument, document: dict[str, Any]) -> None:
    """Write one of the run's JSON documents at its key under the output prefix, once checked against its schema:
    one that breaks it is a bug of the job's, raised as OutputDocumentInvalid naming the document and each field."""
    kind.check(document)
    write_text(spark, output_location(output, kind.key), json.dumps(document, indent=2, sort_keys=False) + "\n")


def read_parquet(spark: SparkSession, output: str, name: str) -> DataFrame:
    """Read back one of the job's Parquet outputs."""
    return spark.read.parquet(output_location(output, name))
