"""Execution names derived from an uploaded object, so a duplicate event names the same execution."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import unicodedata

MANIFESTS_PREFIX = "manifests/"
MANIFEST_SUFFIX = ".json"
MAX_NAME_LENGTH = 80  # Step Functions: 1-80 characters
HASH_LENGTH = 16  # hex digits: 64 bits, no collision to fear within the 90 days a name is reserved
MAX_STEM_LENGTH = MAX_NAME_LENGTH - 1 - HASH_LENGTH
FALLBACK_STEM = "manifest"

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]+")


def is_manifest_key(key: str) -> bool:
    """Whether `key` matches `manifests/*.json` (as the EventBridge wildcard does: `*` spans folders)."""
    return key.startswith(MANIFESTS_PREFIX) and key.endswith(MANIFEST_SUFFIX)


def object_identity(bucket: str, key: str, version_id: str | None, etag: str) -> str:
    """What tells one upload from another: the version id, or the ETag when the bucket is unversioned."""
    revision = ["version", version_id] if version_id else ["etag", etag.strip('"')]
    return json.dumps([bucket, key, *revision])


def readable_stem(key: str, max_length: int = MAX_STEM_LENGTH, fallback: str = FALLBACK_STEM) -> str:
    """The file name without `.json`, accents dropped, reduced to [A-Za-z0-9-_], at most `max_length` long."""
    name = posixpath.basename(key).removesuffix(MANIFEST_SUFFIX)
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem = _NOT_ALLOWED.sub("-", name).strip("-_")[:max_length].rstrip("-_")
    return stem or fallback


def execution_name(bucket: str, key: str, version_id: str | None, etag: str) -> str:
    """`<stem>-<hash>`: readable in the console, the same for the same object version, valid for Step Functions."""
    digest = hashlib.sha256(object_identity(bucket, key, version_id, etag).encode()).hexdigest()[:HASH_LENGTH]
    return f"{readable_stem(key)}-{digest}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the execution `name` of a state machine (arn:...:stateMachine:m -> arn:...:execution:m:name)."""
    prefix, machine = state_machine_arn.rsplit(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"
