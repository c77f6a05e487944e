"""template.yaml as CloudFormation deploys it, offline, parameters at their defaults.

The SAM transform is AWS's own translator (aws-sam-translator, pinned as `sam` uses it), given the packaged
template (`sam package` puts S3 locations in place of local paths) and a managed-policy loader reading moto's
copy of AWS's managed policies instead of calling IAM. Intrinsic functions are evaluated by moto's CloudFormation
evaluator (`clean_json`, `parse_condition`) over a `Stack` that answers Ref and Fn::GetAtt as CloudFormation
does for each resource type (the "Return values" of each type in the CloudFormation template reference,
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-template-resource-type-ref.html), ARNs
in the formats of the Service Authorization Reference.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, Final, Literal
from unittest import mock

from moto.cloudformation.parsing import LazyDict, clean_json, parse_condition
from moto.iam.aws_managed_policies import aws_managed_policies_data
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from orchard_local import template as t
from orchard_local.account import (
    ACCOUNT,
    ARTIFACTS_BUCKET,
    INPUTS_BUCKET,
    LOGS_BUCKET,
    OUTPUTS_BUCKET,
    REGION,
    STATE_MACHINE_ARN,
)
from orchard_local.authorization import arn_format, fill

STACK_NAME: Final = "orchard"
PSEUDO_PARAMETERS: Final = t.PSEUDO_PARAMETERS | {"AWS::StackName": STACK_NAME, "AWS::URLSuffix": "amazonaws.com",
                                                  "AWS::NoValue": None}
# Names the tests' world gives (orchard_local.account), as if the template named them; others are generated.
CHOSEN_NAMES: Final = {"InputsBucket": INPUTS_BUCKET, "OutputsBucket": OUTPUTS_BUCKET, "LogsBucket": LOGS_BUCKET,
                       "ArtifactsBucket": ARTIFACTS_BUCKET, "PipelineStateMachine": STATE_MACHINE_ARN.rsplit(":", 1)[1]}
PACKAGED: Final = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri",
                   "AWS::Serverless::StateMachine": "DefinitionUri"}
PACKAGE_BUCKET: Final = "aws-sam-cli-managed-default-samclisourcebucket-1a2b3c4d5e6f"
# The property that names a resource, when the template gives it (CloudFormation generates the name otherwise).
NAME_PROPERTIES: Final = {
    "AWS::S3::Bucket": "BucketName", "AWS::Lambda::Function": "FunctionName", "AWS::IAM::Role": "RoleName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName", "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::StepFunctions::StateMachine": "StateMachineName", "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName", "AWS::Logs::LogGroup": "LogGroupName", "AWS::Events::Rule": "Name",
    "AWS::Scheduler::Schedule": "Name", "AWS::Lambda::LayerVersion": "LayerName", "AWS::KMS::Alias": "AliasName",
    "AWS::DynamoDB::Table": "TableName",
}
PolicyKind = Literal["identity", "resource"]  # a policy attached to a principal, or to a resource
# Where each type of resource holds policy documents: (property, or Policies for a role's inline ones; kind).
POLICY_DOCUMENTS: Final[dict[str, list[tuple[str, PolicyKind]]]] = {
    "AWS::IAM::Role": [("AssumeRolePolicyDocument", "resource"), ("Policies", "identity")],
    "AWS::IAM::ManagedPolicy": [("PolicyDocument", "identity")],
    "AWS::IAM::Policy": [("PolicyDocument", "identity")],
    "AWS::S3::BucketPolicy": [("PolicyDocument", "resource")],
    "AWS::SQS::QueuePolicy": [("PolicyDocument", "resource")],
    "AWS::SNS::TopicPolicy": [("PolicyDocument", "resource")],
    "AWS::KMS::Key": [("KeyPolicy", "resource")],
}


@cache
def aws_managed_policies() -> dict[str, dict[str, Any]]:
    """AWS managed policies' documents by ARN, from moto's copy of them (moto/iam/aws_managed_policies.py)."""
    return {f"arn:aws:iam::aws:policy{policy['Path']}{name}": policy["Document"]
            for name, policy in json.loads(aws_managed_policies_data).items()}


class AwsManagedPolicies(ManagedPolicyLoader):
    """The translator's managed-policy names to ARNs, from moto's copy instead of IAM's ListPolicies."""

    def __init__(self) -> None:
        super().__init__(iam_client=None)

    def load(self) -> dict[str, str]:
        return {arn.rsplit("/", 1)[1]: arn for arn in aws_managed_policies()}


def packaged(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template as `sam package` leaves it: each local code or definition path replaced by an S3 location."""
    packaged_template = json.loads(json.dumps(template))
    for resource in packaged_template["Resources"].values():
        key = PACKAGED.get(resource["Type"])
        if key in resource.get("Properties", {}):
            digest = hashlib.md5(resource["Properties"][key].encode()).hexdigest()  # sam names uploads by content hash
            resource["Properties"][key] = f"s3://{PACKAGE_BUCKET}/{digest}"
    return packaged_template


@cache
def transformed() -> dict[str, Any]:
    """template.yaml after the AWS::Serverless-2016-10-31 transform, as CloudFormation receives it."""
    # The translator asks boto3 for a region even when the parameters give one.
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": REGION}):
        return transform(packaged(t.template()), dict(t.PSEUDO_PARAMETERS), AwsManagedPolicies())


@dataclass(frozen=True)
class Deployed:
    """A resource as CloudFormation reports it: what Ref gives, and Fn::GetAtt's attributes."""

    physical_resource_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)

    def get_cfn_attribute(self, name: str) -> str:
        if name not in self.attributes:
            raise KeyError(f"Fn::GetAtt {name} of {self.physical_resource_id}: not modelled in Stack.deploy")
        return self.attributes[name]


def generated_name(logical_id: str, kind: str) -> str:
    """The name CloudFormation gives a resource the template does not name: stack-LogicalId-SUFFIX (lower case for a
    bucket); the suffix is derived from the logical id here, so that names are the same on every run."""
    suffix = base64.b32encode(hashlib.sha256(logical_id.encode()).digest()).decode()[:12]
    name = f"{STACK_NAME}-{logical_id}-{suffix}"
    return name.lower() if kind == "AWS::S3::Bucket" else name


def arn(prefix: str, resource_type: str, **values: str) -> str:
    """A resource's ARN in the Service Authorization Reference's format for its type."""
    filled = fill(arn_format(prefix, resource_type), {"Partition": "aws", "Region": REGION, "Account": ACCOUNT,
                                                      **values})
    assert filled is not None, f"a value of the {prefix}:{resource_type} ARN is missing from {values}"
    (resource_arn,) = filled
    return resource_arn


class Stack(Mapping[str, Any]):
    """The deployed stack as moto's `clean_json` reads it: parameters and resources through [] (Ref), a resource's
    attributes through .get(...).get_cfn_attribute (Fn::GetAtt), conditions through lazy_condition_map (Fn::If)."""

    def __init__(self, template: Mapping[str, Any], chosen_names: Mapping[str, str] = CHOSEN_NAMES) -> None:
        self.template = template
        self.chosen_names = chosen_names
        self.parameters: dict[str, str | list[str] | None] = dict(PSEUDO_PARAMETERS)
        self.parameters |= {name: parameter_value(parameter)
                            for name, parameter in template.get("Parameters", {}).items()}
        self.cross_stack_resources: dict[str, Any] = {}
        self.lazy_condition_map = LazyDict()
        for name, condition in template.get("Conditions", {}).items():
            # moto annotates its ResourceMap; a Stack answers what its evaluator asks of one (see the docstring)
            self.lazy_condition_map[name] = partial(parse_condition, condition, self,  # type: ignore[arg-type]
                                                    self.lazy_condition_map)
        self._deployed: dict[str, Deployed] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self.parameters:
            return self.parameters[key]
        if key not in self._deployed:
            self._deployed[key] = self.deploy(key, self.resources[key])
        return self._deployed[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.parameters | self.resources)

    def __len__(self) -> int:
        return len(self.parameters) + len(self.resources)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """The resources CloudFormation creates: those without a condition, or whose condition holds."""
        return {logical: resource for logical, resource in self.template["Resources"].items()
                if "Condition" not in resource or self.lazy_condition_map[resource["Condition"]]}

    def render(self, value: Any) -> Any:
        """`value` with its intrinsic functions evaluated (AWS::NoValue dropped from lists as from objects)."""
        rendered = clean_json(value, self)  # type: ignore[arg-type]  # a Stack for moto's ResourceMap, as above
        return without_no_value(rendered)

    def name_of(self, logical_id: str, resource: Mapping[str, Any]) -> str:
        name_property = NAME_PROPERTIES.get(resource["Type"])
        if name_property in resource.get("Properties", {}):
            return self.render(resource["Properties"][name_property])
        return self.chosen_names.get(logical_id) or generated_name(logical_id, resource["Type"])

    def deploy(self, logical_id: str, resource: Mapping[str, Any]) -> Deployed:
        """What Ref and Fn::GetAtt give for the resource, by its type."""
        kind, name, properties = resource["Type"], self.name_of(logical_id, resource), resource.get("Properties", {})
        match kind:
            case "AWS::S3::Bucket":
                return Deployed(name, {"Arn": arn("s3", "bucket", BucketName=name)})
            case "AWS::Lambda::Function":
                return Deployed(name, {"Arn": arn("lambda", "function", FunctionName=name)})
            case "AWS::Lambda::Version":
                function = self.render(properties["FunctionName"])
                return Deployed(arn("lambda", "function version", FunctionName=function, Version="1"), {"Version": "1"})
            case "AWS::Lambda::Alias":
                function = self.render(properties["FunctionName"])
                return Deployed(arn("lambda", "function alias", FunctionName=function, Alias=properties["Name"]))
            case "AWS::Lambda::LayerVersion":
                return Deployed(arn("lambda", "layerVersion", LayerName=name, LayerVersion="1"))
            case "AWS::IAM::Role":
                return Deployed(name, {"Arn": arn("iam", "role", RoleNameWithPath=name)})
            case "AWS::IAM::InstanceProfile":
                return Deployed(name, {"Arn": arn("iam", "instance-profile", InstanceProfileNameWithPath=name)})
            case "AWS::IAM::ManagedPolicy":
                return Deployed(arn("iam", "policy", PolicyNameWithPath=name))
            case "AWS::StepFunctions::StateMachine":
                state_machine = arn("states", "statemachine", StateMachineName=name)
                return Deployed(state_machine, {"Arn": state_machine, "Name": name})
            case "AWS::SNS::Topic":
                topic = arn("sns", "topic", TopicName=name)
                return Deployed(topic, {"TopicArn": topic, "TopicName": name})
            case "AWS::SQS::Queue":
                url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
                return Deployed(url, {"Arn": arn("sqs", "queue", QueueName=name), "QueueName": name, "QueueUrl": url})
            case "AWS::KMS::Key":
                key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{STACK_NAME}/{logical_id}"))
                return Deployed(key_id, {"Arn": arn("kms", "key", KeyId=key_id), "KeyId": key_id})
            case "AWS::Logs::LogGroup":  # its Arn ends with ":*", all its streams
                return Deployed(name, {"Arn": arn("logs", "log-group", LogGroupName=name) + ":*"})
            case "AWS::Events::Rule":
                return Deployed(name, {"Arn": arn("events", "rule-on-default-event-bus", RuleName=name)})
            case "AWS::DynamoDB::Table":
                return Deployed(name, {"Arn": arn("dynamodb", "table", TableName=name)})
            case "AWS::EC2::VPC" | "AWS::EC2::Subnet":  # Ref: the id EC2 gave it, vpc-... or subnet-... (17 hex digits)
                prefix = "vpc" if kind == "AWS::EC2::VPC" else "subnet"
                return Deployed(f"{prefix}-{hashlib.sha256(logical_id.encode()).hexdigest()[:17]}")
            case "AWS::Scheduler::Schedule":
                return Deployed(name, {"Arn": arn("scheduler", "schedule", GroupName="default", ScheduleName=name)})
        return Deployed(name)


def parameter_value(parameter: Mapping[str, Any]) -> str | list[str]:
    """What Ref gives for a parameter at its default: a CommaDelimitedList's is a list of its comma-separated values
    (CloudFormation User Guide, "CloudFormation template Parameters syntax", the CommaDelimitedList type: "" gives
    [""]), any other's a string."""
    default = str(parameter["Default"])
    return default.split(",") if parameter["Type"] == "CommaDelimitedList" else default


def without_no_value(value: Any) -> Any:
    """CloudFormation drops AWS::NoValue (None once rendered) from lists too."""
    if isinstance(value, list):
        return [without_no_value(item) for item in value if item is not None]
    if isinstance(value, dict):
        return {key: without_no_value(item) for key, item in value.items()}
    return value


@cache
def stack() -> Stack:
    """template.yaml's stack as deployed."""
    return Stack(transformed())


def physical_names(deployed: Stack | None = None) -> dict[str, str]:
    """Each resource's Ref by logical id, and its attributes as "Logical.Attribute" (template.resolve's names)."""
    deployed = deployed or stack()
    names = {}
    for logical in deployed.resources:
        names[logical] = deployed[logical].physical_resource_id
        names |= {f"{logical}.{attribute}": value for attribute, value in deployed[logical].attributes.items()}
    return names


@dataclass(frozen=True)
class Policy:
    """A policy document of the deployed template, and where it is."""

    resource: str  # logical id of the resource holding it
    name: str  # the property holding it, with the policy's name for a role's inline policies
    kind: PolicyKind
    document: dict[str, Any]


def policies(deployed: Stack | None = None) -> list[Policy]:
    """Every policy document of the deployed template, its intrinsic functions rendered."""
    deployed = deployed or stack()
    found = []
    for logical, resource in deployed.resources.items():
        properties = resource.get("Properties", {})
        for key, kind in POLICY_DOCUMENTS.get(resource["Type"], []):
            if key == "Policies":
                found += [Policy(logical, f"Policies/{deployed.render(policy['PolicyName'])}", kind,
                                 deployed.render(policy["PolicyDocument"])) for policy in properties.get(key, [])]
            elif key in properties:
                found.append(Policy(logical, key, kind, deployed.render(properties[key])))
    return found


def identity_policies(deployed: Stack | None = None) -> dict[str, list[dict[str, Any]]]:
    """Each role's identity-based policy documents by its logical id: inline, attached managed policies (AWS's from
    moto's copy, the template's own), and AWS::IAM::Policy / ManagedPolicy resources naming the role."""
    deployed = deployed or stack()
    found = policies(deployed)
    managed = {deployed[p.resource].physical_resource_id: p.document for p in found
               if deployed.resources[p.resource]["Type"] == "AWS::IAM::ManagedPolicy"}
    documents: dict[str, list[dict[str, Any]]] = {}
    for logical, role in deployed.resources.items():
        if role["Type"] == "AWS::IAM::Role":
            attached = deployed.render(role.get("Properties", {}).get("ManagedPolicyArns", []))
            documents[logical] = [p.document for p in found if p.resource == logical and p.kind == "identity"]
            documents[logical] += [managed.get(policy_arn) or aws_managed_policies()[policy_arn]
                                   for policy_arn in attached]
    for policy in found:
        if deployed.resources[policy.resource]["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role_name in deployed.render(deployed.resources[policy.resource]["Properties"].get("Roles", [])):
                documents[role_named(role_name, deployed)].append(policy.document)
    return documents


def role_named(name_or_arn: str, deployed: Stack | None = None) -> str:
    """The logical id of the role with this name or ARN."""
    deployed = deployed or stack()
    return next(logical for logical, resource in deployed.resources.items() if resource["Type"] == "AWS::IAM::Role"
                and name_or_arn in (deployed[logical].physical_resource_id, deployed[logical].attributes["Arn"]))


def role_of(logical_id: str, deployed: Stack | None = None) -> str:
    """The logical id of the role a function, a state machine or an instance profile gives its code."""
    deployed = deployed or stack()
    properties = deployed.resources[logical_id]["Properties"]
    role = properties.get("Role") or properties.get("RoleArn") or properties["Roles"][0]
    return role_named(deployed.render(role), deployed)


def instance_profile_named(name: str, deployed: Stack | None = None) -> str:
    """The logical id of the instance profile with this name."""
    deployed = deployed or stack()
    return next(logical for logical, resource in deployed.resources.items()
                if resource["Type"] == "AWS::IAM::InstanceProfile" and deployed[logical].physical_resource_id == name)
