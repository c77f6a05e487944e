"""Execution names derived from an uploaded object, so a duplicate event names the same execution."""

from __future__ import annotations

import hashlib
import json

from orchard_contract.manifest import MANIFEST_SUFFIX, readable_stem

MANIFESTS_PREFIX = "manifests/"
MAX_NAME_LENGTH = 80  # Step Functions: 1-80 characters
HASH_LENGTH = 16  # hex digits: 64 bits, no collision to fear within the 90 days a name is reserved
MAX_STEM_LENGTH = MAX_NAME_LENGTH - 1 - HASH_LENGTH
FALLBACK_STEM = "manifest"


def is_manifest_key(key: str) -> bool:
    """Whether `key` matches `manifests/*.json` (as the EventBridge wildcard does: `*` spans folders)."""
    return key.startswith(MANIFESTS_PREFIX) and key.endswith(MANIFEST_SUFFIX)


def object_identity(bucket: str, key: str, version_id: str | None, etag: str) -> str:
    """What tells one upload from another: the version id, or the ETag when the bucket is unversioned."""
    revision = ["version", version_id] if version_id else ["etag", etag.strip('"')]
    return json.dumps([bucket, key, *revision])


def execution_name(bucket: str, key: str, version_id: str | None, etag: str) -> str:
    """`<stem>-<hash>`: readable in the console, the same for the same object version, valid for Step Functions."""
    digest = hashlib.sha256(object_identity(bucket, key, version_id, etag).encode()).hexdigest()[:HASH_LENGTH]
    return f"{readable_stem(key, MAX_STEM_LENGTH, FALLBACK_STEM)}-{digest}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the execution `name` of a state machine (arn:...:stateMachine:m -> arn:...:execution:m:name)."""
    prefix, machine = state_machine_arn.rsplit(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"
