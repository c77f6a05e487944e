"""A local S3 endpoint for offline proofs: moto's server on the loopback, with latency injected per request.

    with local_s3() as server:                          # 0 ms per request to start with
        upload_folder(server.client(), folder, "images", "fruits-360")
        os.environ.update(process_environment(server.endpoint_url))
        server.latency_seconds = 0.1                    # from now on, every request waits 100 ms
        ...
        server.request_counts()                         # {"GetObject": 2000, "ListObjectsV2": 8}

The latency is added by a WSGI middleware in front of moto's application, outside the code under
test, and it can be changed while the server runs. The server is werkzeug's threaded one (a
thread per connection), so concurrent requests wait concurrently, as they do on S3. Nothing is
logged per request.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from s3transfer.futures import TransferFuture
from werkzeug.serving import BaseWSGIServer, make_server

HOST = "127.0.0.1"
REGION = "us-east-1"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
UPLOAD_THREADS = 16

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def s3_operation(method: str, path: str, query: str) -> str:
    """The S3 operation a path-style request names, roughly: `GetObject`, `ListObjectsV2`, `PutObject`...

    `path` is `/bucket` or `/bucket/key`; anything not in the table is named `<METHOD> bucket|object`.
    """
    if path.strip("/") == "":
        return "ListBuckets" if method == "GET" else f"{method} service"
    on_object = "/" in path.strip("/")
    parameters = parse_qs(query, keep_blank_values=True)
    if not on_object and method == "GET":
        return "ListObjectsV2" if parameters.get("list-type") == ["2"] else "GET bucket"
    names = {
        ("GET", True): "GetObject",
        ("HEAD", True): "HeadObject",
        ("PUT", True): "PutObject",
        ("HEAD", False): "HeadBucket",
        ("PUT", False): "CreateBucket",
    }
    return names.get((method, on_object), f"{method} {'object' if on_object else 'bucket'}")


class LatencyMiddleware:
    """WSGI middleware: waits `latency_seconds` before passing each request on; counts the requests, and the most
    in flight at once."""

    def __init__(self, app: WsgiApp, latency_seconds: float = 0.0) -> None:
        self.app = app
        self.latency_seconds = latency_seconds
        self._counts: Counter[str] = Counter()
        self._in_flight = 0
        self._peak_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        operation = s3_operation(environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"),
                                 environ.get("QUERY_STRING", ""))
        with self._lock:
            self._counts[operation] += 1
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            delay = self.latency_seconds  # read once: a change mid-request applies from the next one
            if delay > 0:
                time.sleep(delay)
            return self.app(environ, start_response)
        finally:
            with self._lock:
                self._in_flight -= 1

    def counts(self) -> dict[str, int]:
        """Requests received since the last reset, by operation."""
        with self._lock:
            return dict(self._counts)

    def peak_in_flight(self) -> int:
        """The most requests waiting or being handled at once since the last reset."""
        with self._lock:
            return self._peak_in_flight

    def reset_counts(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._counts.clear()
            self._peak_in_flight = self._in_flight


class QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's line per request (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing for a request served."""


class LocalS3:
    """A running local S3 endpoint: where it is, its injected latency, and what it served."""

    def __init__(self, server: BaseWSGIServer, middleware: LatencyMiddleware) -> None:
        self._server = server
        self._middleware = middleware

    @property
    def endpoint_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://{HOST}:{self._server.server_port}"

    @property
    def latency_seconds(self) -> float:
        """How long every request waits before moto handles it."""
        return self._middleware.latency_seconds

    @latency_seconds.setter
    def latency_seconds(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must be at least 0 s, got {seconds}")
        self._middleware.latency_seconds = seconds

    def request_counts(self) -> dict[str, int]:
        """Requests served since the last reset, by S3 operation."""
        return self._middleware.counts()

    def requests_served(self) -> int:
        """How many requests were served since the last reset."""
        return sum(self.request_counts().values())

    def peak_in_flight(self) -> int:
        """The most requests in the server at once since the last reset: how parallel the client was."""
        return self._middleware.peak_in_flight()

    def reset_counts(self) -> None:
        """Count requests (and the peak in flight) from zero again."""
        self._middleware.reset_counts()

    def client(self, max_pool_connections: int = 2 * UPLOAD_THREADS) -> Any:
        """A boto3 S3 client for this endpoint, with the fake credentials."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(max_pool_connections=max_pool_connections),
        )


@contextmanager
def local_s3(latency_seconds: float = 0.0) -> Iterator[LocalS3]:
    """moto's S3 served on 127.0.0.1 (a free port) by a threaded server, for the duration of the block."""
    middleware = LatencyMiddleware(DomainDispatcherApplication(create_backend_app), latency_seconds)
    server = make_server(HOST, 0, middleware, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="local-s3", daemon=True)
    thread.start()
    try:
        yield LocalS3(server, middleware)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def process_environment(endpoint_url: str, region: str = REGION) -> dict[str, str]:
    """The environment variables that point a process's boto3 S3 clients at `endpoint_url`, with fake
    credentials. Spark's Python workers inherit them when they are set before the session starts."""
    return {"AWS_ENDPOINT_URL_S3": endpoint_url, "AWS_DEFAULT_REGION": region, **FAKE_CREDENTIALS}


def create_bucket(client: Any, bucket: str) -> None:
    """Create `bucket` in the client's region (us-east-1 takes no location constraint)."""
    region = client.meta.region_name
    if region == "us-east-1":
        client.create_bucket(Bucket=bucket)
    else:
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def upload_folder(client: Any, folder: Path, bucket: str, prefix: str = "", threads: int = UPLOAD_THREADS) -> int:
    """Every file under `folder` to `s3://bucket/prefix/<relative path>`, `threads` at a time, creating the
    bucket if need be. Returns the number of files uploaded."""
    if bucket not in {entry["Name"] for entry in client.list_buckets()["Buckets"]}:
        create_bucket(client, bucket)
    base = prefix.strip("/") + "/" if prefix.strip("/") else ""
    files = sorted(path for path in Path(folder).rglob("*") if path.is_file())
    config = TransferConfig(max_concurrency=threads, use_threads=True)
    with create_transfer_manager(client, config) as manager:
        uploads: list[TransferFuture] = [
            manager.upload(str(path), bucket, base + path.relative_to(folder).as_posix()) for path in files
        ]
        for upload in uploads:
            upload.result()
    return len(files)
