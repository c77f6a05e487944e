"""Read what the output check needs from S3: two small JSON documents and Parquet footers.

A footer is read with a few ranged GETs through smart_open (the object's size, then its last
64 KiB), never the whole part file; the footers of a run's part files are read in parallel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow.parquet as pq
import smart_open

from orchard_pipeline.outputs import OutputDocumentInvalid, PartFile
from orchard_pipeline.s3uri import child_uri, s3_uri, split_s3_uri

FOOTER_READERS = 16  # parallel footer reads; the S3 client's connection pool should be as large
FOOTER_READ_BYTES = 64 * 1024  # pyarrow's first read of a footer, so each GET asks for no more


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


def read_footer(s3: Any, bucket: str, key: str, name: str) -> PartFile:
    """One part file's rows, column types and value counts, from its footer."""
    params = {"client": s3, "defer_seek": True, "range_chunk_size": FOOTER_READ_BYTES}
    with smart_open.open(s3_uri(bucket, key), "rb", transport_params=params) as stream:
        metadata = pq.read_metadata(stream)
    schema = metadata.schema.to_arrow_schema()
    values = dict.fromkeys(schema.names, 0)
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            values[chunk.path_in_schema.split(".")[0]] += chunk.num_values
    columns = {field.name: str(field.type) for field in schema}
    return PartFile(name=name, rows=metadata.num_rows, columns=columns, values=values)


def read_part_files(s3: Any, output_uri: str, folders: Sequence[str]) -> dict[str, list[PartFile]]:
    """The footers of every part file in each of `folders` under `output_uri`, read in parallel."""
    bucket, prefix = split_s3_uri(output_uri.rstrip("/") + "/")
    found = [(folder, key) for folder in folders for key in list_part_files(s3, child_uri(output_uri, folder))]

    def read(key: str) -> PartFile:
        return read_footer(s3, bucket, key, key.removeprefix(prefix))

    with ThreadPoolExecutor(max_workers=FOOTER_READERS) as pool:
        footers = list(pool.map(read, [key for _, key in found]))
    part_files: dict[str, list[PartFile]] = {folder: [] for folder in folders}
    for (folder, _), footer in zip(found, footers, strict=True):
        part_files[folder].append(footer)
    return part_files
