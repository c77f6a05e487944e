"""The deployed stack `orchard` works on, found by its name: the state machine and the inputs bucket its
CloudFormation outputs name, and the user's AWS session (credentials and region from the usual AWS configuration)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from orchard_cli.errors import CliError, UnknownStack

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

STACK_VARIABLE = "ORCHARD_STACK"
SAMCONFIG = Path("samconfig.toml")
# The outputs of template.yaml `orchard` reads (a run's other places come from its plan and summary).
REQUIRED_OUTPUTS = ("StateMachineArn", "InputsBucketName")


def samconfig_stack_name(config: Path = SAMCONFIG) -> str | None:
    """The stack name `sam deploy` uses from this folder's samconfig.toml: its `default` environment's deploy
    parameters, else its global ones (SAM CLI's configuration file: a command's section before `global`)."""
    if not config.is_file():
        return None
    environment = tomllib.loads(config.read_text()).get("default", {})
    for section in ("deploy", "global"):
        name = environment.get(section, {}).get("parameters", {}).get("stack_name")
        if name:
            return str(name)
    return None


@dataclass(frozen=True)
class Deployment:
    """A deployed Orchard stack: its name, its outputs, and the session `orchard` calls AWS with."""

    stack_name: str
    outputs: Mapping[str, str]
    session: boto3.Session

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["StateMachineArn"]

    @property
    def inputs_bucket(self) -> str:
        return self.outputs["InputsBucketName"]

    # One client of each service, made once (boto3's clients may be shared by threads, its sessions may not).
    @cached_property
    def stepfunctions(self) -> SFNClient:
        return self.session.client("stepfunctions")

    @cached_property
    def s3(self) -> S3Client:
        return self.session.client("s3")

    @cached_property
    def logs(self) -> CloudWatchLogsClient:
        return self.session.client("logs")


def connect(stack_name: str | None, session: boto3.Session | None = None) -> Deployment:
    """The stack named `stack_name` in the session's region, from CloudFormation's DescribeStacks, which answers a
    stack that does not exist with a ValidationError (AWS CloudFormation API Reference, "DescribeStacks":
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html)."""
    if not stack_name:
        raise CliError(f"which stack? Give --stack NAME, set {STACK_VARIABLE}, or run orchard where samconfig.toml is")
    session = session or boto3.Session()
    if session.region_name is None:
        raise CliError("no AWS region: set AWS_REGION, or a region in your AWS profile (aws configure)")
    try:
        (stack,) = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationError":
            raise UnknownStack(f"no stack {stack_name!r} in {session.region_name}: {error.response['Error']['Message']}"
                               f" (deployed elsewhere? set AWS_REGION)") from error
        raise
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise UnknownStack(f"stack {stack_name!r} has no output {', '.join(missing)}: is it an Orchard stack, "
                           f"completely deployed (status {stack['StackStatus']})?")
    return Deployment(stack_name=stack_name, outputs=outputs, session=session)
