"""The files the Python workers write and read, in a local folder or under an S3 prefix: the feature store's and the
run's staged features (`feature_files`). Listed, read, created whole and never replaced; the staged ones moved.

Written from Spark's Python workers as well as from the driver, so in Python (boto3 for S3, as the images are read:
`sources`), never through Hadoop's file system. What the store's protocol (`feature_store`) relies on:

- A file appears whole or not at all. Locally it is written under a hidden name beside its own, flushed to disk,
  then renamed, which POSIX makes atomic. On S3 one PutObject: "Amazon S3 never adds partial objects; if you
  receive a success response, Amazon S3 added the entire object to the bucket" (S3 API Reference, "PutObject",
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html).
- Nothing is replaced: every name holds a random UUID, new to its writer. On S3 the PutObject also carries
  `If-None-Match: *`, which fails when the key exists ("How to prevent object overwrites with conditional writes",
  S3 User Guide, https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html), and the clusters'
  role may only write that way (template.yaml).
- What was written is listed and read at once: "After a successful write of a new object ... any subsequent read
  request immediately receives the latest version of the object. S3 also provides strong consistency for list
  operations" ("Amazon S3 data consistency model", S3 User Guide,
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/Welcome.html#ConsistencyModel).
"""

from __future__ import annotations

import os
import uuid

from orchard_contract.paths import join
from orchard_features.sources import bucket_and_key, is_hidden, is_s3, local_path, s3_client

# The answer of a conditional PutObject whose key exists: 412 Precondition Failed (conditional-writes.html above).
KEY_EXISTS = "PreconditionFailed"


def list_names(folder: str) -> list[str]:
    """The names of the visible files directly in `folder`, sorted; none when it does not exist. On S3 a
    ListObjectsV2 with a `/` delimiter, every page of it (1,000 keys a page: S3 API Reference, "ListObjectsV2",
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html)."""
    if not is_s3(folder):
        path = local_path(folder)
        return sorted(name for name in os.listdir(path) if not is_hidden(name)) if os.path.isdir(path) else []
    bucket, prefix = bucket_and_key(join(folder, ""))
    names = []
    for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        names += [item["Key"][len(prefix):] for item in page.get("Contents", [])]
    return sorted(name for name in names if not is_hidden(name))


def read_file(location: str) -> bytes:
    """A file's whole content; FileNotFoundError when there is no such file."""
    if is_s3(location):
        bucket, key = bucket_and_key(location)
        client = s3_client()
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            raise FileNotFoundError(location) from None
    with open(local_path(location), "rb") as stream:
        return stream.read()


def create_file(location: str, data: bytes) -> None:
    """Create the file at `location`, a name new to this writer, with `data`: visible whole or not at all.

    On S3, a key found existing can only be this call's own PutObject, retried by the client after its answer was
    lost: it counts as written.
    """
    if is_s3(location):
        from botocore.exceptions import ClientError

        bucket, key = bucket_and_key(location)
        try:
            s3_client().put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != KEY_EXISTS:
                raise
        return
    path = local_path(location)
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    staged = os.path.join(folder, f".{name}.{uuid.uuid4().hex}.partial")
    try:
        with open(staged, "xb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(staged, path)
    finally:
        if os.path.exists(staged):
            os.remove(staged)


def move_file(source: str, destination: str) -> None:
    """Move a file to `destination`, replacing any file there. On S3 a CopyObject, then a DeleteObject of the source, as
    S3 renames a general purpose bucket's objects ("Copying, moving, and renaming objects", S3 User Guide,
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/copy-object.html); a single CopyObject copies up to 5 GB
    ("CopyObject", S3 API Reference, https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html)."""
    if is_s3(source):
        bucket, key = bucket_and_key(source)
        target_bucket, target_key = bucket_and_key(destination)
        client = s3_client()
        client.copy_object(Bucket=target_bucket, Key=target_key, CopySource={"Bucket": bucket, "Key": key})
        client.delete_object(Bucket=bucket, Key=key)
        return
    target = local_path(destination)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(local_path(source), target)
