"""Pure helpers on paths and URIs: local paths and s3:// URIs are handled alike."""

from __future__ import annotations

import os
import posixpath
import re
from urllib.parse import unquote, urlsplit

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def has_scheme(location: str) -> bool:
    """Whether `location` is a URI such as s3://bucket/key or file:/tmp/x."""
    return bool(_SCHEME.match(location))


def resolve_relative(base_file: str, entry: str) -> str:
    """Resolve `entry` against the folder of `base_file`, as a relative link would be."""
    if has_scheme(entry) or entry.startswith("/"):
        return entry
    if has_scheme(base_file):
        parts = urlsplit(base_file)
        folder = posixpath.dirname(parts.path)
        joined = posixpath.normpath(posixpath.join(folder, entry))
        return f"{parts.scheme}://{parts.netloc}{joined}"
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(base_file)), entry))


def to_uri(location: str) -> str:
    """A location as Spark and Hadoop name it: local paths become absolute file: URIs."""
    if has_scheme(location):
        return location
    return "file:" + os.path.abspath(location)


def join(location: str, *names: str) -> str:
    """`location`/`names`, for a local path or a URI: join('s3://b/runs/x/', 'model_info', 'a.json')."""
    return "/".join([location.rstrip("/"), *(name.strip("/") for name in names)])


def path_segments(uri: str) -> list[str]:
    """The decoded folder and file names of a path or URI, in order."""
    path = urlsplit(uri).path if has_scheme(uri) else uri
    return [unquote(segment) for segment in path.split("/") if segment]


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
