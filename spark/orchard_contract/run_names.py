"""How executions and runs are named, declared once for the functions that name them and the `orchard` command that
finds them by name: the execution an uploaded manifest starts (the same for the same object version, so a duplicate
event starts nothing), and a run's id (readable, unique per execution)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

from orchard_contract.manifest import MANIFEST_SUFFIX, readable_stem

MANIFESTS_PREFIX = "manifests/"
MAX_NAME_LENGTH = 80  # Step Functions: 1-80 characters
HASH_LENGTH = 16  # hex digits: 64 bits, no collision to fear within the 90 days a name is reserved
MAX_STEM_LENGTH = MAX_NAME_LENGTH - 1 - HASH_LENGTH
FALLBACK_STEM = "manifest"
RUN_DIGEST_LENGTH = 8  # hex digits of the execution's hash ending a run id


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


def started_by_hand_name(key: str) -> str:
    """`<stem>-<random hex>` for an execution started by hand with the manifest at `key`: shaped as an upload's."""
    return f"{readable_stem(key, MAX_STEM_LENGTH, FALLBACK_STEM)}-{uuid.uuid4().hex[:HASH_LENGTH]}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the execution `name` of a state machine (arn:...:stateMachine:m -> arn:...:execution:m:name)."""
    prefix, machine = state_machine_arn.rsplit(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"


def execution_digest(execution_arn: str) -> str:
    """The hash of an execution that ends its run's id."""
    return hashlib.sha256(execution_arn.encode()).hexdigest()[:RUN_DIGEST_LENGTH]


def run_id_for(name: str, execution_arn: str, started_at: datetime) -> str:
    """A readable id, unique per execution and stable across retries: name, start time, hash of the ARN."""
    return f"{name}-{started_at:%Y%m%dT%H%M%SZ}-{execution_digest(execution_arn)}"


def is_run_of(run_id: str, execution_arn: str) -> bool:
    """Whether `run_id` is the id of a run of this execution (it ends with the execution's hash)."""
    return run_id.rpartition("-")[2] == execution_digest(execution_arn)
