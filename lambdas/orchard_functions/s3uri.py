"""s3:// URIs: the one way the Lambdas name objects and prefixes."""

from __future__ import annotations


class NotAnS3Uri(ValueError):
    """A location that should be an s3://bucket/key URI is not one."""


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`; the key may be empty or a prefix ending in '/'."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise NotAnS3Uri(f"not an s3:// URI: {uri!r}")
    return bucket, key  # taken as written: keys may hold '#', '?' or spaces


def s3_uri(bucket: str, key: str = "") -> str:
    """`s3://bucket/key`."""
    return f"s3://{bucket}/{key}"

