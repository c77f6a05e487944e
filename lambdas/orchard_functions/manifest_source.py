"""Where the prepare-run function finds the manifest: the execution input itself, or the object in the inputs bucket
that it names (`{"manifest_uri": "s3://...", "version_id": "..."}`), read and parsed, or InvalidManifest."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from orchard_contract.manifest import InvalidManifest
from orchard_functions.documents import json_type, text_problems
from orchard_functions.run_plan import INLINE_SOURCE
from orchard_functions.s3uri import NotAnS3Uri, split_s3_uri

if TYPE_CHECKING:  # the stubs are a dev requirement, not in the layer
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import GetObjectRequestTypeDef

MANIFEST_REFERENCE_KEYS = {"manifest_uri", "version_id"}
MAX_MANIFEST_BYTES = 1024 * 1024  # a manifest is a few hundred bytes; more is not one
# S3's answers for a key that is not there (404 NoSuchKey, given s3:ListBucket on the bucket: without it, 403
# AccessDenied), a version that is not there (404 NoSuchVersion) or a malformed version id (400 InvalidArgument,
# "Invalid version id specified"): "Amazon S3 API Reference: GetObject", Permissions and Errors,
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, and "Error responses",
# https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html. Any other 404 is taken as missing too.
MISSING = {"NoSuchKey", "NoSuchVersion", "InvalidArgument"}


def manifest_reference(execution_input: dict[str, Any]) -> tuple[str, str | None]:
    """(manifest URI, version id) of an execution input that names a manifest in S3."""
    problems = [f"$.{key}: not allowed next to manifest_uri (allowed: manifest_uri, version_id)"
                for key in sorted(set(execution_input) - MANIFEST_REFERENCE_KEYS)]
    uri, version_id = execution_input["manifest_uri"], execution_input.get("version_id")
    if not isinstance(uri, str):
        problems.append(f"$.manifest_uri: {json_type(uri)}, expected an s3:// URI string")
    if version_id is not None and not isinstance(version_id, str):
        problems.append(f"$.version_id: {json_type(version_id)}, expected a version id string")
    elif version_id == "":
        problems.append("$.version_id: empty; give the manifest's version id, or leave it out for the latest")
    if problems:
        raise InvalidManifest.listing(INLINE_SOURCE, problems)
    return uri, version_id


def read_manifest(s3: S3Client, uri: str, version_id: str | None, inputs_bucket: str) -> Any:
    """The manifest document stored at `uri` (that version, when given) in the inputs bucket, parsed."""
    try:
        bucket, key = split_s3_uri(uri)
    except NotAnS3Uri:
        raise InvalidManifest(f"$.manifest_uri: {uri!r} is not an s3:// URI") from None
    if bucket != inputs_bucket or not key:
        raise InvalidManifest(f"$.manifest_uri: {uri} is not an object of the inputs bucket "
                              f"{inputs_bucket!r}")
    request: GetObjectRequestTypeDef = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    try:
        response = s3.get_object(**request)
    except ClientError as error:
        if error.response["Error"]["Code"] in MISSING or error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            version = f" (version {version_id})" if version_id else ""
            raise InvalidManifest(f"{uri}: no such manifest{version}") from None
        raise
    if response["ContentLength"] > MAX_MANIFEST_BYTES:
        raise InvalidManifest(f"{uri}: {response['ContentLength']} bytes, more than a manifest's {MAX_MANIFEST_BYTES}")
    body = response["Body"].read()
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidManifest(f"{uri}: not valid JSON: {reason}") from None
    if problems := text_problems(document):
        raise InvalidManifest.listing(uri, problems)
    return document


def manifest_source(*, s3: S3Client, execution_input: Any, inputs_bucket: str) -> tuple[str | None, Any]:
    """(where the manifest comes from, the document): the input itself, or the manifest it names."""
    if not isinstance(execution_input, dict):
        raise InvalidManifest(f"{INLINE_SOURCE} is {json_type(execution_input)}; expected a JSON object: "
                              'a manifest, or {"manifest_uri": "s3://..."}')
    if problems := text_problems(execution_input):
        raise InvalidManifest.listing(INLINE_SOURCE, problems)
    if "manifest_uri" not in execution_input:
        return None, execution_input
    uri, version_id = manifest_reference(execution_input)
    return uri, read_manifest(s3, uri, version_id, inputs_bucket)
