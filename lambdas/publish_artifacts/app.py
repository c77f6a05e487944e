"""CloudFormation custom resource: publish the Spark job, bootstrap and pins to the artifacts bucket.

Every deployment whose files differ gets a new prefix `code/<content hash>/`; earlier prefixes stay,
so executions already running keep reading the code they started with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from crhelper import CfnResource

from orchard_functions.artifacts import collect_artifacts, content_version
from orchard_functions.s3uri import s3_uri

logger = Logger()
helper = CfnResource(json_logging=True, log_level="INFO", sleep_on_delete=0)
s3 = boto3.client("s3")
BUNDLE = Path(__file__).parent / "payload"  # laid out by this folder's Makefile at `sam build`


def publish_artifacts(*, bucket: str, bundle: Path) -> str:
    """Upload the bundle's artifacts under their content version; return the prefix URI."""
    artifacts = collect_artifacts(bundle)
    prefix = f"code/{content_version(artifacts)}/"
    for name, body in artifacts.items():
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)
    logger.info("Artifacts published", prefix=s3_uri(bucket, prefix), files=sorted(artifacts))
    return s3_uri(bucket, prefix)


@helper.create
@helper.update
def on_deploy(event: dict[str, Any], _context: Any) -> str:
    uri = publish_artifacts(bucket=event["ResourceProperties"]["Bucket"], bundle=BUNDLE)
    helper.Data["ArtifactsUri"] = uri
    return uri


@helper.delete
def on_delete(_event: dict[str, Any], _context: Any) -> None:
    """Keep the published code: an execution still running may need it (the bucket outlives the stack)."""


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> None:
    helper(event, context)
