"""The feature store: every image's features kept between runs, keyed by the image (its location and its content
identity, `sources`) and the model (its fingerprint, `model.feature_fingerprint`). Append-only, and safe for runs
writing at once.

Under the store's location (a folder or an s3:// prefix), a folder per model, and in it segments and commits:

    <store>/mobilenet_v2-<fingerprint>/segments/<id>.parquet   path, content, width, height, mode, features
    <store>/mobilenet_v2-<fingerprint>/commits/<id>.parquet    path, content, width, height: the segment's index

The protocol. A writer (a Spark task of the feature stage) writes its segment whole, then its commit, last. `<id>`
is the time and a random UUID, new to every writer: no two writers ever write one name, nothing is replaced, and
ids sort by time. A reader lists and reads the commits only, and a segment only through its commit: a segment whose
commit is missing (its writer failed between the two) is never read. Reading the index is reading the commits,
which hold the segments' identity columns and nothing else: no feature is read to know what the store holds. An
image stored twice (two runs featurized it at once, or a retried task) is read from its newest segment.

Only images that were featurized are stored: a failure is tried again by the next run.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchard_contract.errors import OrchardError
from orchard_contract.paths import join
from orchard_contract.run_outputs import FEATURES, HEIGHT, MODE, PATH, WIDTH, Column
from orchard_features.store_files import create_file, list_names, read_file

CONTENT = Column("content", "string")  # the image's content identity when it was featurized
SEGMENT_COLUMNS = (PATH, CONTENT, WIDTH, HEIGHT, MODE, FEATURES)
INDEX_COLUMNS = (PATH, CONTENT, WIDTH, HEIGHT)  # a commit's: what a run needs to know whether to reuse an image
ARROW_TYPES = {"string": pa.string(), "int": pa.int32(), "array<float>": pa.list_(pa.float32())}
SEGMENTS, COMMITS, SUFFIX = "segments", "commits", ".parquet"
READERS = 32  # commits read at once: on S3 each is a GET of tens of milliseconds
_NUMBER = "segment_number"  # a row's segment, as its place in the sorted commit ids


class FeatureStoreError(OrchardError):
    """A committed segment is gone, or does not hold what its commit lists: the store was changed by hand."""


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    """The Arrow schema of `columns`."""
    return pa.schema([(column.name, ARROW_TYPES[column.type]) for column in columns])


def model_folder(store: str, fingerprint: str) -> str:
    """The folder of one model's features in the store."""
    return join(store, f"mobilenet_v2-{fingerprint}")


def new_segment_id() -> str:
    """A segment's id: the UTC time to the microsecond, then a random UUID."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}"


def segment_location(folder: str, segment: str) -> str:
    return join(folder, SEGMENTS, segment + SUFFIX)


def commit_location(folder: str, segment: str) -> str:
    return join(folder, COMMITS, segment + SUFFIX)


def parquet_bytes(table: pa.Table) -> bytes:
    """`table` as a Parquet file; the float vectors without dictionary encoding (they never repeat)."""
    sink = pa.BufferOutputStream()
    strings = [field.name for field in table.schema if field.type == pa.string()]
    pq.write_table(table, sink, use_dictionary=strings)
    return sink.getvalue().to_pybytes()


def stored_rows(paths: pd.Series, contents: pd.Series, results: pd.DataFrame) -> pa.Table:
    """The rows of SEGMENT_COLUMNS for the images of one batch that were featurized (`results` of
    `features.featurize_batch`, row for row with `paths` and `contents`)."""
    featurized = results["error"].isna().to_numpy()
    kept = results[featurized]
    columns = {
        PATH.name: paths.to_numpy()[featurized],
        CONTENT.name: contents.to_numpy()[featurized],
        WIDTH.name: kept[WIDTH.name].to_numpy(dtype="int32"),
        HEIGHT.name: kept[HEIGHT.name].to_numpy(dtype="int32"),
        MODE.name: kept[MODE.name].to_numpy(),
        FEATURES.name: list(kept[FEATURES.name]),
    }
    return pa.table(columns, schema=arrow_schema(SEGMENT_COLUMNS))


def write_segment(folder: str, rows: pa.Table) -> str:
    """Add `rows` (SEGMENT_COLUMNS) to the store: the segment, then its commit. Returns the segment's id."""
    segment = new_segment_id()
    create_file(segment_location(folder, segment), parquet_bytes(rows))
    create_file(commit_location(folder, segment), parquet_bytes(rows.select([c.name for c in INDEX_COLUMNS])))
    return segment


def committed_segments(folder: str) -> list[str]:
    """The ids of the committed segments, oldest first."""
    return [name.removesuffix(SUFFIX) for name in list_names(join(folder, COMMITS)) if name.endswith(SUFFIX)]


def read_index(folder: str, segments: list[str], threads: int = READERS) -> pa.Table:
    """The index of `segments`: INDEX_COLUMNS and each row's segment as its place in `segments`."""

    def read_commit(number: int) -> pa.Table:
        data = read_file(commit_location(folder, segments[number]))
        table = pq.read_table(pa.BufferReader(data), columns=[column.name for column in INDEX_COLUMNS])
        return table.append_column(_NUMBER, pa.array([number] * table.num_rows, pa.int32()))

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="orchard-store") as pool:
        tables = list(pool.map(read_commit, range(len(segments))))
    schema = arrow_schema(INDEX_COLUMNS).append(pa.field(_NUMBER, pa.int32()))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def find_stored(folder: str, wanted: Mapping[str, str], max_pixels: int) -> dict[str, str]:
    """The images of `wanted` (path -> content identity) that the store holds for this model, each with the newest
    segment holding it. One larger than `max_pixels` is not reused: this run would list it as failed."""
    segments = committed_segments(folder)
    index = read_index(folder, segments)
    images = pa.table({PATH.name: list(wanted), CONTENT.name: list(wanted.values())},
                      schema=arrow_schema((PATH, CONTENT)))
    found = index.join(images, keys=[PATH.name, CONTENT.name], join_type="inner")
    pixels = pc.multiply(found[WIDTH.name].cast(pa.int64()), found[HEIGHT.name].cast(pa.int64()))
    newest = found.filter(pc.less_equal(pixels, max_pixels)).group_by(PATH.name).aggregate([(_NUMBER, "max")])
    return dict(zip(newest[PATH.name].to_pylist(),
                    (segments[number] for number in newest[f"{_NUMBER}_max"].to_pylist()), strict=True))


def read_stored(folder: str, segment: str, wanted: Mapping[str, str]) -> pa.Table:
    """The rows of SEGMENT_COLUMNS of the images of `wanted` (path -> content identity), each once, from a committed
    segment; FeatureStoreError if it lacks one, or is gone."""
    location = segment_location(folder, segment)
    try:
        data = read_file(location)
    except FileNotFoundError:
        raise FeatureStoreError(f"segment {location} is gone: the store was cleared while this run used it; "
                                "run again") from None
    table = pq.read_table(pa.BufferReader(data))
    seen: set[str] = set()
    keep = []
    for path, content in zip(table[PATH.name].to_pylist(), table[CONTENT.name].to_pylist(), strict=True):
        keep.append(wanted.get(path) == content and path not in seen)
        if keep[-1]:
            seen.add(path)
    rows = table.filter(pa.array(keep, pa.bool_()))
    if rows.num_rows != len(wanted):
        raise FeatureStoreError(
            f"segment {location} holds {rows.num_rows} of the {len(wanted)} images its "
            "commit lists: the store was changed by hand; remove it (or this model's folder), or run with --no-reuse"
        )
    return rows.select([column.name for column in SEGMENT_COLUMNS]).cast(arrow_schema(SEGMENT_COLUMNS))
