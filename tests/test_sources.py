"""Listing and reading the inputs: local folders and S3 (moto) alike, hidden names skipped, reads in flight bounded."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from helpers import ODD_NAMES, odd_tree
from orchard_features import sources
from orchard_features.sources import FILE_GONE, InputError, UnreadableFile, list_files, prefetched, read_bytes

TREE = [
    "Training/Apple/a.jpg",
    "Training/Apple/b.jpg",
    "Training/Kiwi/c.png",
    "Training/Kiwi/_hidden.jpg",
    "Training/.cache/d.jpg",
    "Test/Apple/e.jpg",
    "notes.txt",
]
VISIBLE = ["Test/Apple/e.jpg", "Training/Apple/a.jpg", "Training/Apple/b.jpg", "Training/Kiwi/c.png", "notes.txt"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in TREE:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    return tmp_path


@pytest.fixture
def bucket(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        sources.s3_client.cache_clear()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="images", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for name in TREE:
            s3.put_object(Bucket="images", Key=f"fruits/{name}", Body=name.encode())
        s3.put_object(Bucket="images", Key="fruits/Training/Empty/", Body=b"")  # a console folder marker
        yield s3
    sources.s3_client.cache_clear()


def test_local_folders_are_listed_recursively_without_hidden_names(folder: Path):
    assert list(list_files([str(folder)])) == [f"file:{folder}/{name}" for name in VISIBLE]


def test_s3_prefixes_are_listed_recursively_without_hidden_names_or_folder_markers(bucket):
    assert list(list_files(["s3://images/fruits"])) == [f"s3://images/fruits/{name}" for name in VISIBLE]
    assert list(list_files(["s3://images/fruits/Test/"])) == ["s3://images/fruits/Test/Apple/e.jpg"]


def test_s3_listing_follows_every_page(bucket):
    keys = [f"many/Class/{index:04d}.jpg" for index in range(1005)]  # ListObjectsV2 returns 1,000 keys a page
    for key in keys:
        bucket.put_object(Bucket="images", Key=key, Body=b"x")
    assert list(list_files(["s3://images/many"])) == [f"s3://images/{key}" for key in keys]


def test_an_input_naming_one_file_lists_that_file(folder: Path, bucket):
    assert list(list_files([str(folder / "Training/Apple/a.jpg")])) == [f"file:{folder}/Training/Apple/a.jpg"]
    assert list(list_files(["s3://images/fruits/notes.txt"])) == ["s3://images/fruits/notes.txt"]


def test_a_local_file_s_content_identity_is_its_size_and_modification_time(folder: Path):
    path = folder / "Training/Apple/a.jpg"
    status = path.stat()
    listed = list_files([str(folder)])
    assert listed[f"file:{path}"] == f"size={status.st_size} mtime_ns={status.st_mtime_ns}"
    assert list_files([str(path)]) == {f"file:{path}": listed[f"file:{path}"]}

    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1))  # rewritten with bytes of the same length
    touched = list_files([str(folder)])
    assert touched[f"file:{path}"] != listed[f"file:{path}"]
    assert {name: identity for name, identity in touched.items() if name != f"file:{path}"} == {
        name: identity for name, identity in listed.items() if name != f"file:{path}"}


def test_a_file_gone_before_its_stat_gets_an_identity_nothing_matches(folder: Path):
    gone = folder / "gone.jpg"
    assert sources.content_of_file(str(gone)).startswith("unknown=")
    assert sources.content_of_file(str(gone)) != sources.content_of_file(str(gone))


def test_an_object_s_content_identity_is_its_etag_and_size(bucket):
    key = "fruits/Training/Apple/a.jpg"
    head = bucket.head_object(Bucket="images", Key=key)
    listed = list_files(["s3://images/fruits"])
    assert listed[f"s3://images/{key}"] == f"etag={head['ETag']} size={head['ContentLength']}"
    assert list_files([f"s3://images/{key}"]) == {f"s3://images/{key}": listed[f"s3://images/{key}"]}

    bucket.put_object(Bucket="images", Key=key, Body=b"Training/Apple/A.jpg")  # other bytes, the same length
    assert list_files([f"s3://images/{key}"])[f"s3://images/{key}"] != listed[f"s3://images/{key}"]


def test_inputs_holding_no_file_are_named(folder: Path, bucket):
    with pytest.raises(InputError, match=r"input not found: /no/such/folder, s3://images/nothing"):
        list_files([str(folder), "/no/such/folder", "s3://images/nothing"])


def test_reads_return_the_content_or_say_the_file_is_gone(folder: Path, bucket):
    assert read_bytes(f"file:{folder}/Training/Apple/a.jpg") == b"Training/Apple/a.jpg"
    assert read_bytes("s3://images/fruits/Test/Apple/e.jpg") == b"Test/Apple/e.jpg"
    for gone in (f"file:{folder}/gone.jpg", "s3://images/fruits/gone.jpg"):
        with pytest.raises(UnreadableFile, match=FILE_GONE):
            read_bytes(gone)


@pytest.mark.parametrize("name", ODD_NAMES)
def test_locations_are_taken_apart_as_written(name):
    key = f"in/{name}/{name}.jpg"
    assert sources.bucket_and_key(f"s3://images/{key}") == ("images", key)
    assert sources.is_s3(f"s3://images/{key}") and not sources.is_s3(f"file:/data/{key}")
    for location in (f"file:/data/{key}", f"file:///data/{key}", f"/data/{key}"):
        assert sources.local_path(location) == f"/data/{key}"


def test_odd_names_are_listed_and_read_as_written_from_a_folder(tmp_path: Path):
    root = tmp_path / "in #1?"
    for relative in odd_tree():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(relative.encode())
    expected = sorted(f"file:{root}/{relative}" for relative in odd_tree())

    assert list(list_files([str(root)])) == list(list_files([f"file:{root}"])) == expected
    assert [read_bytes(path) for path in expected] == [path.removeprefix(f"file:{root}/").encode() for path in expected]
    assert list(list_files([f"file:{root}/Test #1?/"])) == [path for path in expected if "/Test #1?/" in path]
    assert list(list_files([expected[0]])) == expected[:1]


def test_odd_names_are_listed_and_read_as_written_from_s3(bucket):
    for relative in odd_tree():
        bucket.put_object(Bucket="images", Key=f"odd #1?/{relative}", Body=relative.encode())
    expected = sorted(f"s3://images/odd #1?/{relative}" for relative in odd_tree())

    assert list(list_files(["s3://images/odd #1?"])) == expected
    assert [read_bytes(path) for path in expected] == [path.removeprefix("s3://images/odd #1?/").encode()
                                                       for path in expected]
    assert list(list_files(["s3://images/odd #1?/Test #1?/"])) == [path for path in expected if "/Test #1?/" in path]
    assert list(list_files([expected[0]])) == expected[:1]


def test_an_unreadable_local_file_gives_its_reason(folder: Path):
    with pytest.raises(UnreadableFile, match="file could not be read: Is a directory"):
        read_bytes(f"file:{folder}/Training")


def test_prefetched_keeps_order_and_reads_ahead_a_bounded_number_of_batches():
    batches = [list(range(start, start + 4)) for start in range(0, 40, 4)]
    in_flight, most, lock = 0, 0, threading.Lock()

    def load(item: int) -> int:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.01)
        with lock:
            in_flight -= 1
        return item * 10

    def consumed():  # the engine is slow: loads race ahead as far as they may
        for batch in prefetched(iter(batches), load, sources.reading_pool(), ahead=2):
            time.sleep(0.05)
            yield batch

    assert list(consumed()) == [[item * 10 for item in batch] for batch in batches]
    assert 4 < most <= 3 * 4  # more than one batch at a time, never more than ahead + 1 batches


def test_the_clusters_instance_role_may_make_every_request_of_the_reading(monkeypatch):
    """The job lists and reads its images with the EMR instance role: each request it makes (a missing key
    included), checked against the role's policies as deployed, with the Service Authorization Reference's actions."""
    from iam_coverage import missing_grants
    from orchard_local.deployed import physical_names
    from orchard_local.principals import Principals

    inputs = physical_names()["InputsBucket"]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        sources.s3_client.cache_clear()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=inputs, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for name in TREE:
            s3.put_object(Bucket=inputs, Key=f"fruits-360/{name}", Body=b"x")
        principals = Principals()
        principals["EmrInstanceRole"].watch(sources.s3_client().meta.events)
        listed = list(list_files([f"s3://{inputs}/fruits-360/"]))
        for path in [*listed, f"s3://{inputs}/fruits-360/Training/Apple/gone.jpg"]:
            with contextlib.suppress(UnreadableFile):
                read_bytes(path)
    sources.s3_client.cache_clear()
    assert {call.operation.name for call in principals.calls} == {"ListObjectsV2", "GetObject"}
    assert {call.status for call in principals.calls} == {200, 404}
    assert missing_grants(principals.calls) == []
