"""The feature store on its own, in a local folder and in S3: what is committed is found and read back as written,
keyed by the image's location and content and by the model; what is not committed is never read; two writers at
once lose nothing; nothing is replaced."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.managers import BarrierProxy
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from helpers import local_s3_bucket
from orchard_contract.run_outputs import FEATURE_DIMENSION
from orchard_features import feature_store, store_files
from orchard_features.feature_store import (
    FeatureStoreError,
    arrow_schema,
    committed_segments,
    find_stored,
    read_stored,
    stored_rows,
    write_segment,
)
from orchard_features.features import featurize_batch
from orchard_features.images import DecodedImage, ImageError
from orchard_features.model import ModelArtifact, feature_fingerprint

BUCKET = "orchard-feature-store"  # moto's backends are process-wide: a name no other test uses
LIMIT = 50_000_000


def features_of(path: str) -> np.ndarray:
    """Features that tell images apart: drawn from a generator seeded by the path."""
    seed = int.from_bytes(path.encode()[-8:].rjust(8, b"\0"), "little")
    return np.random.default_rng(seed).normal(size=FEATURE_DIMENSION).astype(np.float32)


def table(images: dict[str, str], width: int = 100) -> pa.Table:
    """Stored rows for `images` (path -> content identity)."""
    return pa.table({
        "path": list(images), "content": list(images.values()), "width": [width] * len(images),
        "height": [width] * len(images), "mode": ["RGB"] * len(images),
        "features": [features_of(path) for path in images],
    }, schema=arrow_schema(feature_store.SEGMENT_COLUMNS))


def images(prefix: str, count: int) -> dict[str, str]:
    return {f"s3://in/{prefix}/{number}.jpg": f"etag=\"{prefix}{number}\" size=1000" for number in range(count)}


@pytest.fixture(params=["folder", "s3"])
def store(request, tmp_path: Path) -> Iterator[str]:
    """A model's folder in an empty store: in a local folder, or under a prefix of the local S3."""
    if request.param == "folder":
        yield feature_store.model_folder(f"file:{tmp_path}/store", "0123456789abcdef01234567")
        return
    with local_s3_bucket(request.getfixturevalue("local_s3_server"), BUCKET):
        yield feature_store.model_folder(f"s3://{BUCKET}/{tmp_path.name}/store", "0123456789abcdef01234567")


def read_all(folder: str, wanted: dict[str, str]) -> dict[str, np.ndarray]:
    """Every image of `wanted` the store holds, read back: path -> features."""
    found = find_stored(folder, wanted, LIMIT)
    by_segment: dict[str, dict[str, str]] = {}
    for path, segment in found.items():
        by_segment.setdefault(segment, {})[path] = wanted[path]
    read = {}
    for segment, images_there in by_segment.items():
        rows = read_stored(folder, segment, images_there)
        read |= dict(zip(rows["path"].to_pylist(), (np.array(f, np.float32) for f in rows["features"].to_pylist()),
                         strict=True))
    return read


def test_what_is_committed_is_found_and_read_back_as_written(store):
    first, second = images("a", 30), images("b", 20)
    write_segment(store, table(first))
    write_segment(store, table(second))

    wanted = first | second | images("c", 5)  # five the store never saw
    read = read_all(store, wanted)

    assert sorted(read) == sorted(first | second)
    for path, features in read.items():
        np.testing.assert_array_equal(features, features_of(path))


def test_an_image_is_found_only_with_the_content_it_was_stored_with(store):
    stored = images("a", 4)
    write_segment(store, table(stored))
    changed = dict(stored)
    changed["s3://in/a/0.jpg"] = 'etag="rewritten" size=1000'
    changed["s3://in/a/1.jpg"] = 'etag="a1" size=999'

    assert sorted(find_stored(store, changed, LIMIT)) == ["s3://in/a/2.jpg", "s3://in/a/3.jpg"]


def test_another_model_finds_nothing(store):
    stored = images("a", 4)
    write_segment(store, table(stored))
    other_model = store.replace("0123456789abcdef01234567", "76543210fedcba9876543210")

    assert find_stored(other_model, stored, LIMIT) == {}


def test_a_fingerprint_changes_with_the_model_and_the_engine():
    artifact = ModelArtifact(path="/m.onnx", key="k1", engine="onnxruntime", image_size=224, weights="imagenet",
                             weights_are_random=False, from_cache=True)
    same = ModelArtifact(path="/elsewhere.onnx", key="k1", engine="onnxruntime", image_size=224, weights="imagenet",
                         weights_are_random=False, from_cache=False)
    fingerprints = {feature_fingerprint(a) for a in (artifact, same)}
    assert len(fingerprints) == 1
    assert feature_fingerprint(ModelArtifact(**{**vars(artifact), "key": "k2"})) not in fingerprints
    assert feature_fingerprint(ModelArtifact(**{**vars(artifact), "engine": "tensorflow"})) not in fingerprints


def test_an_image_over_the_pixel_limit_is_not_reused(store):
    write_segment(store, table(images("big", 2), width=8000))  # 64 Mpx each
    assert find_stored(store, images("big", 2), LIMIT) == {}
    assert len(find_stored(store, images("big", 2), 64_000_000)) == 2


def test_a_segment_without_its_commit_is_never_read(store):
    """A writer that failed between its segment and its commit, or while writing its segment, left files that no
    reader reads."""
    committed = images("a", 3)
    write_segment(store, table(committed))
    orphan = feature_store.new_segment_id()
    store_files.create_file(feature_store.segment_location(store, orphan), feature_store.parquet_bytes(
        table(images("orphan", 3))))
    if not store.startswith("s3://"):  # a local writer killed while writing leaves its staged file
        staged = Path(store.removeprefix("file:")) / "segments" / f".{orphan}.parquet.0123.partial"
        staged.write_bytes(b"PAR1 cut short")

    assert len(committed_segments(store)) == 1
    assert sorted(find_stored(store, committed | images("orphan", 3), LIMIT)) == sorted(committed)


def test_an_image_stored_twice_is_read_from_the_newest_segment(store):
    path = "s3://in/a/0.jpg"
    write_segment(store, table({path: "c"}))
    newest = write_segment(store, table({path: "c"}))

    assert find_stored(store, {path: "c"}, LIMIT) == {path: newest}


def test_a_segment_that_lacks_what_its_commit_lists_is_an_error_not_a_loss(store):
    segment = write_segment(store, table(images("a", 3)))

    with pytest.raises(FeatureStoreError, match="holds 3 of the 4 images its commit lists"):
        read_stored(store, segment, images("a", 3) | {"s3://in/a/9.jpg": 'etag="a9" size=1000'})


def test_a_segment_removed_while_a_run_uses_it_is_an_error_not_a_loss(store):
    stored = images("a", 3)
    segment = write_segment(store, table(stored))
    found = find_stored(store, stored, LIMIT)
    location = feature_store.segment_location(store, segment)
    if store.startswith("s3://"):
        from orchard_features.sources import bucket_and_key, s3_client

        bucket, key = bucket_and_key(location)
        s3_client().delete_object(Bucket=bucket, Key=key)
    else:
        Path(location.removeprefix("file:")).unlink()

    with pytest.raises(FeatureStoreError, match="is gone: the store was cleared while this run used it"):
        read_stored(store, found["s3://in/a/0.jpg"], stored)


def test_nothing_is_replaced(store):
    location = feature_store.segment_location(store, feature_store.new_segment_id())
    store_files.create_file(location, b"first")
    if store.startswith("s3://"):  # a PutObject retried after its answer was lost finds its own object: kept
        store_files.create_file(location, b"second")
    assert store_files.read_file(location) == b"first"


def write_segments(folder: str, segments: list[dict[str, str]], start: BarrierProxy) -> list[str]:
    """One writer (in a process of its own): its segments one after another, a little apart, from `start`, which
    every writer passes together."""
    written = []
    start.wait()
    for segment in segments:
        written.append(write_segment(folder, table(segment)))
        time.sleep(0.01)
    return written


def test_two_writers_at_once_lose_nothing_and_a_reader_meanwhile_sees_only_whole_segments(store):
    shared = images("shared", 40)  # both runs featurize these at once
    ours, theirs = images("ours", 200), images("theirs", 200)
    everything = shared | ours | theirs

    def segments(own: dict[str, str]) -> list[dict[str, str]]:
        mine = list((own | shared).items())
        return [dict(mine[start:start + 24]) for start in range(0, len(mine), 24)]

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        start = manager.Barrier(2)
        writers = [pool.submit(write_segments, store, segments(own), start) for own in (ours, theirs)]
        seen: list[int] = []
        while not all(writer.done() for writer in writers):
            read = read_all(store, everything)  # a torn or missing segment would raise
            assert all(np.array_equal(features, features_of(path)) for path, features in read.items())
            seen.append(len(read))
        ours_written, theirs_written = (writer.result() for writer in writers)

    assert min(theirs_written) < max(ours_written) and min(ours_written) < max(theirs_written)  # they overlapped
    assert sorted(committed_segments(store)) == sorted(ours_written + theirs_written)
    read = read_all(store, everything)
    assert sorted(read) == sorted(everything)
    for path, features in read.items():
        np.testing.assert_array_equal(features, features_of(path))
    assert seen == sorted(seen)  # what a reader sees only grows


class Engine:
    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.tile(batch.mean(axis=(1, 2, 3))[:, None], (1, FEATURE_DIMENSION)).astype(np.float32)


def test_a_batch_keeps_its_featurized_images_only():
    pixels = np.full((8, 8, 3), 200, np.uint8)
    decoded = [DecodedImage(pixels, 640, 480, "RGB"), ImageError("empty file (0 bytes)"),
               DecodedImage(pixels // 2, 10, 20, "L")]
    results = featurize_batch(decoded, Engine())
    paths = pd.Series(["file:/a.jpg", "file:/b.jpg", "file:/c.jpg"])
    contents = pd.Series(["size=1 mtime_ns=1", "size=0 mtime_ns=2", "size=3 mtime_ns=3"])

    rows = stored_rows(paths, contents, results)

    assert rows.schema == arrow_schema(feature_store.SEGMENT_COLUMNS)
    assert rows.select(["path", "content", "width", "height", "mode"]).to_pylist() == [
        {"path": "file:/a.jpg", "content": "size=1 mtime_ns=1", "width": 640, "height": 480, "mode": "RGB"},
        {"path": "file:/c.jpg", "content": "size=3 mtime_ns=3", "width": 10, "height": 20, "mode": "L"},
    ]
    np.testing.assert_array_equal(np.array(rows["features"].to_pylist(), np.float32),
                                  np.stack(results["features"][[0, 2]]))


def test_the_clusters_instance_role_may_keep_and_read_features_in_the_deployed_store(monkeypatch):
    """The store as deployed (Prepare's FEATURE_STORE_URI), written and read with the EMR instance role: each request,
    checked against the role's policies with the Service Authorization Reference's actions; and every PutObject
    carries the If-None-Match that the role's grant requires."""
    import boto3
    from moto import mock_aws

    from iam_coverage import missing_grants
    from orchard_features import sources
    from orchard_local.deployed import physical_names, stack
    from orchard_local.principals import Principals

    deployed = stack()
    uri = deployed.render(deployed.resources["PrepareRunFunction"]["Properties"]["Environment"]["Variables"]
                          ["FEATURE_STORE_URI"])
    assert uri == f"s3://{physical_names()['OutputsBucket']}/feature-store/"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        sources.s3_client.cache_clear()
        boto3.client("s3").create_bucket(Bucket=physical_names()["OutputsBucket"],
                                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        principals = Principals()
        principals["EmrInstanceRole"].watch(sources.s3_client().meta.events)
        folder = feature_store.model_folder(uri, "0123456789abcdef01234567")
        stored = images("a", 3)
        write_segment(folder, table(stored))
        assert sorted(read_all(folder, stored)) == sorted(stored)
    sources.s3_client.cache_clear()

    assert {call.operation.name for call in principals.calls} == {"PutObject", "ListObjectsV2", "GetObject"}
    assert {call.params.get("IfNoneMatch") for call in principals.calls if call.operation.name == "PutObject"} == {"*"}
    assert missing_grants(principals.calls) == []
