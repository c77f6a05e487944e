"""Read what the output check needs from S3: two small JSON documents and Parquet footers.

A footer is read with one ranged GET of the part file's last 64 KiB (a second one only when the footer is
longer), never the whole file, and decoded with the Parquet format's own Thrift definitions (parquet.thrift, as
the `parquet` package ships it) by thriftpy2: no pyarrow, no numpy in the function. The footers of a run's part
files are read in parallel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from parquet import parquet_thrift
from thriftpy2.protocol.compact import TCompactProtocolFactory
from thriftpy2.utils import deserialize

from orchard_contract.paths import join
from orchard_contract.run_outputs import OutputDocumentInvalid
from orchard_functions.outputs import LIST, OutputSchemaUnexpected, PartFile
from orchard_functions.s3uri import split_s3_uri

FOOTER_READERS = 16  # parallel footer reads; the S3 client's connection pool should be as large
FOOTER_READ_BYTES = 64 * 1024  # what one GET asks for: Spark's footers of these outputs are a few KiB
# A Parquet file ends with its Thrift-encoded footer, the footer's length (4 bytes, little-endian) and "PAR1"
# (Apache Parquet, File Format).
MAGIC = b"PAR1"
TRAILER_BYTES = 8


def read_json(s3: Any, uri: str) -> dict[str, Any] | None:
    """The JSON object at `uri`, or None when there is no such object."""
    bucket, key = split_s3_uri(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise OutputDocumentInvalid(f"{uri} is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise OutputDocumentInvalid(f"{uri} is not a JSON object")
    return document


def is_part_file(relative_key: str, size: int) -> bool:
    """Whether Spark would read the object (its key relative to the output folder) as data: not
    empty, nothing hidden on its path (`_SUCCESS`, `.crc` files, a committer's `_temporary/`)."""
    return size > 0 and not any(part.startswith(("_", ".")) for part in relative_key.split("/"))


def list_part_files(s3: Any, folder_uri: str) -> list[str]:
    """The keys of the part files below `folder_uri`, sorted."""
    bucket, prefix = split_s3_uri(folder_uri.rstrip("/") + "/")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])
                 if is_part_file(item["Key"].removeprefix(prefix), item["Size"])]
    return sorted(keys)


def read_tail(s3: Any, bucket: str, key: str, size: int) -> bytes:
    """The last `size` bytes of an object (all of it when smaller): one ranged GET."""
    return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{size}")["Body"].read()


def read_file_metadata(s3: Any, bucket: str, key: str, name: str) -> Any:
    """The FileMetaData of a Parquet object, from its footer."""
    tail = read_tail(s3, bucket, key, FOOTER_READ_BYTES)
    if len(tail) < TRAILER_BYTES or tail[-4:] != MAGIC:
        raise OutputSchemaUnexpected(f"{name} is not a Parquet file: it does not end with {MAGIC!r}")
    length = int.from_bytes(tail[-TRAILER_BYTES:-4], "little")
    if length + TRAILER_BYTES > len(tail):
        tail = read_tail(s3, bucket, key, length + TRAILER_BYTES)
    footer = tail[-TRAILER_BYTES - length:-TRAILER_BYTES]
    return deserialize(parquet_thrift.FileMetaData(), footer, TCompactProtocolFactory())


def top_level_columns(schema: Sequence[Any]) -> dict[str, str]:
    """Each top-level column's type: LIST for a list group, a leaf's physical type, GROUP for another group.
    The schema is the footer's depth-first list of SchemaElements, the root first."""
    columns = {}
    position = 1
    for _ in range(schema[0].num_children or 0):
        element = schema[position]
        if element.num_children:
            columns[element.name] = LIST if element.converted_type == parquet_thrift.ConvertedType.LIST else "GROUP"
        else:
            columns[element.name] = parquet_thrift.Type._VALUES_TO_NAMES[element.type]
        position = after_subtree(schema, position)
    return columns


def after_subtree(schema: Sequence[Any], position: int) -> int:
    """The position just past the element at `position` and all its descendants."""
    pending = 1
    while pending:
        pending += (schema[position].num_children or 0) - 1
        position += 1
    return position


def read_footer(s3: Any, bucket: str, key: str, name: str) -> PartFile:
    """One part file's rows, column types and value counts, from its footer."""
    metadata = read_file_metadata(s3, bucket, key, name)
    columns = top_level_columns(metadata.schema)
    values = dict.fromkeys(columns, 0)
    for row_group in metadata.row_groups or []:
        for chunk in row_group.columns:
            values[chunk.meta_data.path_in_schema[0]] += chunk.meta_data.num_values
    return PartFile(name=name, rows=metadata.num_rows, columns=columns, values=values)


def read_part_files(s3: Any, output_uri: str, folders: Sequence[str]) -> dict[str, list[PartFile]]:
    """The footers of every part file in each of `folders` under `output_uri`, read in parallel."""
    bucket, prefix = split_s3_uri(output_uri.rstrip("/") + "/")
    found = [(folder, key) for folder in folders for key in list_part_files(s3, join(output_uri, folder))]

    def read(key: str) -> PartFile:
        return read_footer(s3, bucket, key, key.removeprefix(prefix))

    with ThreadPoolExecutor(max_workers=FOOTER_READERS) as pool:
        footers = list(pool.map(read, [key for _, key in found]))
    part_files: dict[str, list[PartFile]] = {folder: [] for folder in folders}
    for (folder, _), footer in zip(found, footers, strict=True):
        part_files[folder].append(footer)
    return part_files
