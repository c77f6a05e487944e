"""Which IAM permissions an AWS request needs, from AWS's own data.

Actions, their resource types and the ARN formats come from the Service Authorization Reference
("Actions, resources, and condition keys for AWS services",
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html)
as parliament bundles it (`parliament.iam_definition`). A request's action is `prefix:OperationName`, the prefix
being the service's signing name in botocore's model, except where AWS documents otherwise (the tables below);
its resources are the ARNs of the action's resource types filled from the request's parameters, or `*` for an
action without a resource type (elasticmapreduce:RunJobFlow, ListClusters).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from functools import cache
from typing import Any, Final, NamedTuple
from urllib.parse import unquote

import botocore.session
import parliament
from botocore.model import OperationModel

# S3 operations authorized by an action of another name, and the versioned forms of object actions: "Required
# permissions for Amazon S3 API operations", https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html
S3_ACTIONS: Final = {
    "CopyObject": "PutObject",  # on the destination; and s3:GetObject on the source: `permissions`
    "HeadObject": "GetObject",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
}
S3_VERSIONED_ACTIONS: Final = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion"}
# Lambda's Invoke needs lambda:InvokeFunction (Lambda API Reference, "Invoke":
# https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
LAMBDA_ACTIONS: Final = {"Invoke": "InvokeFunction"}
ACTIONS: Final = {"s3": S3_ACTIONS, "lambda": LAMBDA_ACTIONS}
# Request parameters naming an ARN format's placeholder, where the names differ.
PARAMETERS: Final = {"BucketName": ("Bucket",), "ObjectName": ("Key",),
                     "ClusterId": ("ClusterId", "JobFlowId", "JobFlowIds"), "LogGroupName": ("logGroupName",)}
# A stack's ARN ends with the stack's unique id (`stack/<name>/<id>`), which a request naming the stack by its name does
# not give: any id (the DescribeStacks page of the AWS CloudFormation API Reference names stacks
# `arn:aws:cloudformation:*:*:stack/*/*` in its example policy,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html).
UNNAMED_PARTS: Final = {"cloudformation": {"Id": "*"}}
# CloudWatch Logs authorizes most actions on a log group against its ARN with a trailing `:*`, the form its API gives
# (Amazon CloudWatch Logs API Reference, "LogGroup", arn: "Use this version to refer to the ARN in IAM policies when
# specifying permissions for most API actions. The exception is ... TagResource, UntagResource, and
# ListTagsForResource"; https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_LogGroup.html).
ARN_SUFFIXES: Final = {("logs", "log-group"): ":*"}
WITHOUT_SUFFIX: Final = {"logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource"}
# Actions whose required resource types are alternatives, of which a request names one: ListExecutions lists the
# executions of a state machine or of a Map Run, DescribeExecution describes a Standard or an Express execution (AWS
# Step Functions API Reference, "ListExecutions", "DescribeExecution").
EITHER_RESOURCE: Final = {"states:ListExecutions", "states:DescribeExecution"}
PLACEHOLDER: Final = re.compile(r"\$\{([A-Za-z]+)\}")
# IAM authorizes an action on a role against the role's ARN, path included (`role/${RoleNameWithPath}`: IAM User
# Guide, "IAM identifiers", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns),
# while a request names the role by RoleName alone. The service-linked roles this application names, with the path
# of each (EC2's Spot role: "Service-linked role for Spot Instance requests", EC2 User Guide,
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/service-linked-roles-spot-instance-requests.html, whose KMS
# grant example names arn:aws:iam::111122223333:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot);
# any other role is taken to be at the path /.
ROLE_PATHS: Final = {"AWSServiceRoleForEC2Spot": "aws-service-role/spot.amazonaws.com/"}


class Permission(NamedTuple):
    """An IAM action on a resource ARN (or `*`)."""

    action: str
    resource: str


@cache
def service(prefix: str) -> dict[str, Any]:
    """The Service Authorization Reference's entry for a service prefix (s3, elasticmapreduce, ...): its actions and
    resource types, of every service using the prefix (`cloudformation` is AWS CloudFormation's and the Cloud Control
    API's)."""
    entries = [entry for entry in parliament.iam_definition if entry["prefix"] == prefix]
    return {"prefix": prefix, "privileges": [privilege for entry in entries for privilege in entry["privileges"]],
            "resources": [resource for entry in entries for resource in entry["resources"]]}


def arn_format(prefix: str, resource_type: str) -> str:
    """The ARN format of one of a service's resource types:
    arn_format("s3", "bucket") = "arn:${Partition}:s3:::${BucketName}"."""
    return next(r["arn"] for r in service(prefix)["resources"] if r["resource"] == resource_type)


def fill(arn: str, values: Mapping[str, str | list[str]]) -> list[str] | None:
    """The ARNs a format gives with each placeholder's value (a list gives one ARN per item); None if one is missing."""
    names = PLACEHOLDER.findall(arn)
    if not all(values.get(name) for name in names):
        return None
    choices = [value if isinstance(value, list) else [value] for value in (values[name] for name in names)]
    return [substitute(arn, dict(zip(names, combination, strict=True))) for combination in itertools.product(*choices)]


def substitute(arn: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], arn)


def action_of(operation: OperationModel, params: Mapping[str, Any]) -> str:
    """The IAM action a request is authorized as: s3:HeadObject -> s3:GetObject,
    emr RunJobFlow -> elasticmapreduce:RunJobFlow."""
    prefix = operation.service_model.signing_name
    name = ACTIONS.get(prefix, {}).get(operation.name, operation.name)
    if prefix == "s3" and params.get("VersionId"):
        name = S3_VERSIONED_ACTIONS.get(name, name)
    privileges = {privilege["privilege"] for privilege in service(prefix)["privileges"]}
    if name not in privileges:
        raise LookupError(f"{prefix}:{name} (for {operation.service_model.service_name}.{operation.name}) is no action "
                          "in the Service Authorization Reference: map the operation in "
                          "orchard_local.authorization.ACTIONS")
    return f"{prefix}:{name}"


def resources_of(action: str, params: Mapping[str, Any], region: str, account: str) -> list[str]:
    """The ARNs `action` applies to for this request: its required resource types (or, with none required, those of
    its optional ones the request names) filled from the parameters; `*` when it has no resource type."""
    prefix, name = action.split(":")
    privilege = next(p for p in service(prefix)["privileges"] if p["privilege"] == name)
    types = [t["resource_type"] for t in privilege["resource_types"] if t["resource_type"]]
    if not types:
        return ["*"]
    required = [t.rstrip("*") for t in types if t.endswith("*")]
    values = {"Partition": partition_of(region), "Region": region,
              "Account": account, **UNNAMED_PARTS.get(prefix, {}), **params}
    values |= {placeholder: params[name]
               for placeholder, names in PARAMETERS.items() for name in names if name in params}
    if isinstance(params.get("RoleName"), str):
        values["RoleNameWithPath"] = role_name_with_path(params["RoleName"])
    found = {t: by_arn(arn_format(prefix, t), params) or fill(arn_format(prefix, t), values) for t in required or types}
    named_all = any(found.values()) if action in EITHER_RESOURCE else all(found.values())
    if required and not named_all or not any(found.values()):
        raise LookupError(f"cannot name the resources of {action} from the request's parameters {sorted(params)}: "
                          "map them in orchard_local.authorization.PARAMETERS")
    suffixes = {t: "" if action in WITHOUT_SUFFIX else ARN_SUFFIXES.get((prefix, t), "") for t in found}
    return [arn + suffixes[t] for t, arns in found.items() if arns for arn in arns]


def partition_of(region: str) -> str:
    """The partition of a client's region; a global service's client (IAM's) is in the pseudo-region
    `<partition>-global` (botocore's endpoint ruleset: `aws-global`), which no region lookup knows."""
    if region.endswith("-global"):
        return region.removesuffix("-global")
    return botocore.session.get_session().get_partition_for_region(region)


def role_name_with_path(role_name: str) -> str:
    """The role's name with its path, as its ARN holds it: AWSServiceRoleForEC2Spot ->
    aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot."""
    return ROLE_PATHS.get(role_name, "") + role_name


def by_arn(arn: str, params: Mapping[str, Any]) -> list[str] | None:
    """A parameter that is itself an ARN of this format (stateMachineArn, TopicArn, a function ARN as FunctionName)."""
    pattern = re.compile(re.escape(PLACEHOLDER.sub("\0", arn)).replace("\0", "[^:/]+") + "$")
    matching = [value for value in params.values() if isinstance(value, str) and pattern.match(value)]
    return matching or None


def copy_source(source: str | Mapping[str, str]) -> dict[str, str]:
    """A CopyObject's source object as Bucket and Key: as given, or as botocore sends it, `bucket/key` URL-encoded."""
    if not isinstance(source, str):
        return {"Bucket": source["Bucket"], "Key": source["Key"]}
    bucket, key = unquote(source.split("?versionId=")[0]).lstrip("/").split("/", 1)
    return {"Bucket": bucket, "Key": key}


def permissions(operation: OperationModel, params: Mapping[str, Any], *, region: str, account: str,
                status: int) -> list[Permission]:
    """What a request needs: its action on each of its resources. An S3 object read answered 404 needed
    s3:ListBucket too: without it S3 answers 403 AccessDenied, not NoSuchKey (S3 API Reference, GetObject and
    HeadObject, "Permissions": https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html)."""
    action = action_of(operation, params)
    needed = [Permission(action, arn) for arn in resources_of(action, params, region, account)]
    if action in ("s3:GetObject", "s3:GetObjectVersion") and status == 404:
        needed += [Permission("s3:ListBucket", arn) for arn in resources_of("s3:ListBucket", params, region, account)]
    if operation.name == "CopyObject":
        # "you must have s3:GetObject permission to read the source object that is being copied" (and s3:PutObject to
        # write the copy): S3 API Reference, "CopyObject", Permissions (botocore's model documents it too),
        # https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
        needed += [Permission("s3:GetObject", arn)
                   for arn in resources_of("s3:GetObject", copy_source(params["CopySource"]), region, account)]
    return needed
