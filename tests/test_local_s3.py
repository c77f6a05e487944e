"""The offline S3 rig (orchard_local/local_s3.py): latency injected per request, requests counted, uploads, quiet."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from orchard_local.local_s3 import LocalS3, local_s3, process_environment, s3_operation, upload_folder

BUCKET = "local-s3-rig"  # moto's backends are process-wide: a name no other test uses
LATENCY = 0.2


@pytest.fixture(scope="module")
def server() -> Iterator[LocalS3]:
    with local_s3() as running:
        client = running.client()
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="a/b.jpg", Body=b"image")
        yield running


@pytest.fixture
def fresh(server: LocalS3) -> Iterator[LocalS3]:
    """The server at 0 ms with its counts at zero, left so."""
    server.latency_seconds = 0
    server.reset_counts()
    yield server
    server.latency_seconds = 0


def timed_get(client) -> float:
    started = time.perf_counter()
    assert client.get_object(Bucket=BUCKET, Key="a/b.jpg")["Body"].read() == b"image"
    return time.perf_counter() - started


def test_a_request_waits_the_latency_set_while_the_server_runs(fresh: LocalS3):
    client = fresh.client()
    timed_get(client)  # the connection opened
    assert timed_get(client) < LATENCY
    fresh.latency_seconds = LATENCY
    assert timed_get(client) >= LATENCY
    fresh.latency_seconds = 0
    assert timed_get(client) < LATENCY


def test_concurrent_requests_wait_side_by_side(fresh: LocalS3):
    client = fresh.client()
    fresh.latency_seconds = LATENCY
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: client.get_object(Bucket=BUCKET, Key="a/b.jpg")["Body"].read(), range(8)))
    assert time.perf_counter() - started < 8 * LATENCY / 2  # one after another would take 8 latencies
    assert fresh.peak_in_flight() > 1


def test_requests_are_counted_by_operation(fresh: LocalS3):
    client = fresh.client()
    client.list_objects_v2(Bucket=BUCKET, Prefix="a/", Delimiter="/")
    client.head_object(Bucket=BUCKET, Key="a/b.jpg")
    for _ in range(3):
        client.get_object(Bucket=BUCKET, Key="a/b.jpg")
    assert fresh.request_counts() == {"ListObjectsV2": 1, "HeadObject": 1, "GetObject": 3}
    assert fresh.requests_served() == 5
    assert fresh.peak_in_flight() == 1  # one client thread: one request at a time
    fresh.reset_counts()
    assert fresh.request_counts() == {} and fresh.peak_in_flight() == 0


@pytest.mark.parametrize(
    ("method", "path", "query", "operation"),
    [
        ("GET", "/", "", "ListBuckets"),
        ("GET", "/bucket", "list-type=2&prefix=a%2F&delimiter=%2F", "ListObjectsV2"),
        ("GET", "/bucket/", "prefix=a", "GET bucket"),
        ("GET", "/bucket/Training/Apple%20Braeburn/0_100.jpg", "", "GetObject"),
        ("HEAD", "/bucket/key", "", "HeadObject"),
        ("PUT", "/bucket/key", "", "PutObject"),
        ("PUT", "/bucket", "", "CreateBucket"),
        ("HEAD", "/bucket", "", "HeadBucket"),
        ("DELETE", "/bucket/key", "", "DELETE object"),
    ],
)
def test_operations_are_named_from_method_and_path(method, path, query, operation):
    assert s3_operation(method, path, query) == operation


def test_a_folder_is_uploaded_with_its_relative_paths_as_keys(fresh: LocalS3, tmp_path: Path):
    files = {"Training/Apple Braeburn/0_100.jpg": b"jpeg", "Training/Kiwi/empty.jpg": b"", "top.txt": b"text"}
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    client = fresh.client()

    assert upload_folder(client, tmp_path, "local-s3-upload", "fruits/") == len(files)

    listed = client.list_objects_v2(Bucket="local-s3-upload")["Contents"]
    assert sorted(item["Key"] for item in listed) == sorted(f"fruits/{name}" for name in files)
    for name, content in files.items():
        assert client.get_object(Bucket="local-s3-upload", Key=f"fruits/{name}")["Body"].read() == content


def test_the_process_environment_points_a_plain_boto3_client_at_the_server(fresh: LocalS3,
                                                                           monkeypatch: pytest.MonkeyPatch):
    for name, value in process_environment(fresh.endpoint_url).items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    assert client.meta.endpoint_url == fresh.endpoint_url
    assert client.get_object(Bucket=BUCKET, Key="a/b.jpg")["Body"].read() == b"image"
    assert fresh.request_counts() == {"GetObject": 1}


def test_the_server_logs_nothing_per_request(fresh: LocalS3, caplog: pytest.LogCaptureFixture,
                                             capfd: pytest.CaptureFixture[str]):
    client = fresh.client()
    with caplog.at_level(logging.DEBUG, logger="werkzeug"):
        client.get_object(Bucket=BUCKET, Key="a/b.jpg")
        with pytest.raises(client.exceptions.NoSuchKey):
            client.get_object(Bucket=BUCKET, Key="missing.jpg")
    assert [record for record in caplog.records if record.name == "werkzeug"] == []
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
