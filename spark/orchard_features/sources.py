"""Listing and reading the input images, from local folders or S3, with many requests in flight.

S3 answers a small GET in tens of milliseconds, up to 100-200 ms ("Performance design patterns
for Amazon S3", https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance-design-patterns.html),
whose answer is parallel requests. So the folders of a prefix are listed concurrently, a level at
a time (a class folder's pages are one request after another, classes side by side), and the
images a task needs are fetched by a pool of threads while its engine computes.

Paths are named `file:/abs/path` for local files, `s3://bucket/key` for objects, the path or key as
written: whatever characters they hold (orchard_contract.paths), they are listed and read here, in
Python, never through Hadoop's `Path` or Spark's file sources.
Names Spark's file index hides are hidden here too: those starting with `_` or `.`.

The listing also gives each file's content identity, what the feature store keys an image's content by
(`content_of_object`, `content_of_file`): what the listing already returns, never a read of the file.
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from orchard_contract.errors import OrchardError
from orchard_contract.paths import file_uri, split_location

S3_SCHEMES = frozenset({"s3", "s3a", "s3n"})
LISTING_THREADS = 32
READ_THREADS = 32
# "standard" retry mode: bounded attempts with backoff on throttling (503 SlowDown) and transient errors
# (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html).
S3_RETRY_ATTEMPTS = 5

T = TypeVar("T")
R = TypeVar("R")


class InputError(OrchardError, ValueError):
    """An input that cannot be read, named in the message."""


class UnreadableFile(Exception):
    """A listed file that cannot be read; the message is the reason recorded in `errors/`."""


@dataclass(frozen=True)
class Folder:
    """What one folder (or S3 prefix) holds directly: its files, each with its content identity, and its
    subfolders."""

    files: dict[str, str]
    folders: list[str]


def content_of_object(item: dict[str, Any]) -> str:
    """An S3 object's content identity: the ETag and the size that ListObjectsV2 returns for it.

    "The entity tag is a hash of the object. The ETag reflects changes only to the contents of an object, not its
    metadata" (S3 API Reference, "Object", https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html). It is
    the MD5 of the content only for a single-part, unencrypted or SSE-S3 upload; a multipart upload's is not, but
    "Objects with different object data will have different entity tags" (S3 API Reference,
    "CompleteMultipartUpload", https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html).
    So it is compared as an opaque string: the same bytes uploaded again in other parts get another ETag, and their
    image is featurized again, never the other way round.
    """
    return f"etag={item['ETag']} size={item['Size']}"


def content_of_file(entry: os.DirEntry[str] | str) -> str:
    """A local file's content identity: its size and modification time in nanoseconds, as make and rsync's quick
    check judge a file changed, from a `stat` (a hash would read every byte). A file gone since it was listed gets
    an identity of its own that nothing stored matches; its read then says why it failed."""
    try:
        status = entry.stat() if isinstance(entry, os.DirEntry) else os.stat(entry)
    except OSError:
        return f"unknown={uuid.uuid4().hex}"
    return f"size={status.st_size} mtime_ns={status.st_mtime_ns}"


def is_hidden(name: str) -> bool:
    """Whether Spark's file index skips a file or folder of this name (`_x`, `.x`), as `_SUCCESS` or `.crc`."""
    return (name.startswith("_") and "=" not in name) or name.startswith(".")


def is_s3(location: str) -> bool:
    """Whether `location` is an S3 URI (s3://, s3a:// or s3n://)."""
    return split_location(location)[0] in S3_SCHEMES


def bucket_and_key(location: str) -> tuple[str, str]:
    """(bucket, key) of an S3 URI, the key as written: `s3://` + bucket + `/` + key."""
    _, bucket, path = split_location(location)
    return bucket, path.removeprefix("/")


def local_path(location: str) -> str:
    """The file-system path of a local path or file: URI (`file:/abs/x`, `file:///abs/x`)."""
    scheme, _, path = split_location(location)
    return path if scheme == "file" else location


@lru_cache(maxsize=1)
def s3_client() -> Any:
    """One S3 client per process (boto3 clients are thread-safe), with a connection per reading thread.

    It follows boto3's usual configuration: credentials, `AWS_DEFAULT_REGION`, and `AWS_ENDPOINT_URL_S3`.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        max_pool_connections=max(LISTING_THREADS, READ_THREADS),
        retries={"mode": "standard", "max_attempts": S3_RETRY_ATTEMPTS},
    )
    return boto3.session.Session().client("s3", config=config)


def list_local_folder(location: str) -> Folder:
    """The visible files, with their content identities, and subfolders directly in a local folder."""
    files: dict[str, str] = {}
    folders: list[str] = []
    with os.scandir(local_path(location)) as entries:
        for entry in entries:
            if is_hidden(entry.name):
                continue
            if entry.is_dir():
                folders.append(file_uri(entry.path))
            else:
                files[file_uri(entry.path)] = content_of_file(entry)
    return Folder(files=files, folders=folders)


def list_s3_folder(location: str) -> Folder:
    """The visible objects, with their content identities, and sub-prefixes directly under an S3 prefix
    (ListObjectsV2 with a `/` delimiter).

    With a delimiter, the keys below the next `/` come rolled up in `CommonPrefixes`, at most 1,000 keys and
    prefixes a page ("Amazon S3 API Reference: ListObjectsV2",
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html). Keys ending in `/` are folder
    markers, zero-byte objects the S3 console creates ("Organizing objects in the Amazon S3 console by using
    folders", https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-folders.html), not files.
    """
    scheme, bucket, path = split_location(location)
    prefix = path.removeprefix("/")
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    base = f"{scheme}://{bucket}/"
    files: dict[str, str] = {}
    folders: list[str] = []
    pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    for page in pages:
        for common in page.get("CommonPrefixes", []):
            name = common["Prefix"][len(prefix):].rstrip("/")
            if not is_hidden(name):
                folders.append(base + common["Prefix"])
        for item in page.get("Contents", []):
            name = item["Key"][len(prefix):]
            if name and not name.endswith("/") and not is_hidden(name):
                files[base + item["Key"]] = content_of_object(item)
    return Folder(files=files, folders=folders)


def list_folder(location: str) -> Folder:
    """The visible files and subfolders directly in a local folder or under an S3 prefix."""
    return list_s3_folder(location) if is_s3(location) else list_local_folder(location)


def input_files(location: str) -> dict[str, str] | None:
    """The file an input names, with its content identity, when it is a single file rather than a folder; None for
    a folder or nothing."""
    if is_s3(location):
        bucket, key = bucket_and_key(location)
        if not key or key.endswith("/"):
            return None
        listed = s3_client().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
        return {location: content_of_object(listed[0])} if listed and listed[0]["Key"] == key else None
    path = local_path(location)
    return {file_uri(path): content_of_file(path)} if os.path.isfile(path) else None


def list_files(inputs: Sequence[str], threads: int = LISTING_THREADS) -> dict[str, str]:
    """Every visible file below the inputs (folders, S3 prefixes or single files), sorted, with its content
    identity.

    Folders are listed a level at a time, each level's folders concurrently. Raises `InputError`
    naming the inputs that hold no file.
    """
    found: dict[str, str] = {}
    missing = []
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="orchard-list") as pool:
        for location in inputs:
            before = len(found)
            single = input_files(location)
            if single is not None:
                found.update(single)
                continue
            level = [location] if is_s3(location) or os.path.isdir(local_path(location)) else []
            while level:
                listed = list(pool.map(list_folder, level))
                for folder in listed:
                    found.update(folder.files)
                level = [sub for folder in listed for sub in folder.folders]
            if len(found) == before:
                missing.append(location)
    if missing:
        raise InputError("input not found: " + ", ".join(missing))
    return dict(sorted(found.items()))


FILE_GONE = "file disappeared before it could be read"


def read_bytes(location: str) -> bytes:
    """A file's whole content, or `UnreadableFile` saying why not (gone, access denied, ...)."""
    if is_s3(location):
        return read_s3_object(location)
    try:
        with open(local_path(location), "rb") as stream:
            return stream.read()
    except FileNotFoundError:
        raise UnreadableFile(FILE_GONE) from None
    except OSError as exc:
        raise UnreadableFile(f"file could not be read: {exc.strerror or exc}") from None


def read_s3_object(location: str) -> bytes:
    """An S3 object's content (GetObject); its error code in `UnreadableFile` once the client's retries are spent."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = bucket_and_key(location)
    try:
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        # GetObject answers NoSuchKey for a missing key when the caller may list the bucket, else AccessDenied
        # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions").
        code = exc.response.get("Error", {}).get("Code", "")
        raise UnreadableFile(FILE_GONE if code == "NoSuchKey" else f"file could not be read: {code}") from None
    except BotoCoreError as exc:
        raise UnreadableFile(f"file could not be read: {exc}") from None


@lru_cache(maxsize=1)
def reading_pool(threads: int = READ_THREADS) -> ThreadPoolExecutor:
    """The threads of this process that fetch (and decode) images, kept for every task it runs."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="orchard-read")


def prefetched(batches: Iterable[Sequence[T]], load: Callable[[T], R], pool: ThreadPoolExecutor,
               ahead: int = 2) -> Iterator[list[R]]:
    """`load` applied to every item of every batch, a batch at a time and in order, with the items of up to
    `ahead` later batches already in flight: memory stays bounded by `ahead + 1` batches."""
    pending: deque[list[Future[R]]] = deque()
    for batch in batches:
        pending.append([pool.submit(load, item) for item in batch])
        if len(pending) > ahead:
            yield [future.result() for future in pending.popleft()]
    while pending:
        yield [future.result() for future in pending.popleft()]
