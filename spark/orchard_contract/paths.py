"""Pure helpers on paths and URIs: local paths and s3:// URIs are handled alike.

An image is named by `file:/abs/path` or `s3://bucket/key`, its path or key as written: never
percent-encoded or decoded, and never cut at a `#` or a `?`. File names and S3 keys may hold them,
as they may hold `%`, `+`, `:`, spaces and any Unicode character (S3 User Guide, "Naming Amazon S3
objects", https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html), so URIs are taken
apart by hand here, never with urllib (which reads a fragment and a query out of them).
"""

from __future__ import annotations

import os
import posixpath
import re

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def has_scheme(location: str) -> bool:
    """Whether `location` is a URI such as s3://bucket/key or file:/tmp/x."""
    return bool(_SCHEME.match(location))


def split_location(location: str) -> tuple[str, str, str]:
    """(scheme, authority, path) of a URI, the path as written; ("", "", location) for a local path.

    `s3://bucket/a#b?.jpg` gives ("s3", "bucket", "/a#b?.jpg"), `file:/x/y` ("file", "", "/x/y").
    """
    match = _SCHEME.match(location)
    if not match:
        return "", "", location
    scheme, rest = location[: match.end() - 1].lower(), location[match.end():]
    if not rest.startswith("//"):
        return scheme, "", rest
    authority, slash, path = rest[2:].partition("/")
    return scheme, authority, slash + path


def resolve_relative(base_file: str, entry: str) -> str:
    """Resolve `entry` against the folder of `base_file`, as a relative link would be."""
    if has_scheme(entry) or entry.startswith("/"):
        return entry
    if has_scheme(base_file):
        scheme, authority, path = split_location(base_file)
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), entry))
        return f"{scheme}://{authority}{joined}"
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(base_file)), entry))


def file_uri(path: str) -> str:
    """The `file:` URI of a local path: `file:` and the absolute path, as written."""
    return "file:" + os.path.abspath(path)


def to_uri(location: str) -> str:
    """A location as Spark and Hadoop name it: local paths become absolute file: URIs."""
    return location if has_scheme(location) else file_uri(location)


def join(location: str, *names: str) -> str:
    """`location`/`names`, for a local path or a URI: join('s3://b/runs/x/', 'model_info', 'a.json')."""
    return "/".join([location.rstrip("/"), *(name.strip("/") for name in names)])


def path_segments(uri: str) -> list[str]:
    """The folder and file names of a path or URI, in order, as written (see the module's docstring)."""
    return [segment for segment in split_location(uri)[2].split("/") if segment]


def label_from_path(uri: str) -> str:
    """The class of an image in the Fruits-360 layout: its parent folder's name."""
    segments = path_segments(uri)
    return segments[-2] if len(segments) >= 2 else ""


def split_from_path(uri: str) -> str:
    """The split (e.g. Training, Test) of an image in the Fruits-360 layout: its grandparent."""
    segments = path_segments(uri)
    return segments[-3] if len(segments) >= 3 else ""


def has_image_extension(path: str) -> bool:
    """Whether a file name ends with one of the image extensions the job reads."""
    dot = path.rfind(".")
    return dot >= 0 and path[dot:].lower() in IMAGE_EXTENSIONS
