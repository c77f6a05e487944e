"""template.yaml as deployed: SAM-transformed by AWS's translator, its policies rendered to concrete ARNs."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from iam_coverage import allowed
from orchard_local import deployed as d
from orchard_local import template as t
from orchard_local.account import ACCOUNT, REGION, STATE_MACHINE_ARN
from orchard_local.authorization import Permission

EMR_SERVICE_POLICY_V2 = "arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"


def pin(path: str, package: str) -> str:
    return next(line for line in (t.ROOT / path).read_text().splitlines() if line.startswith(f"{package}=="))


def test_the_translator_is_the_one_sam_validate_uses():
    assert pin("requirements/translator.txt", "aws-sam-translator") == pin("requirements/tools.txt", "aws-sam-translator")


def intrinsic_functions(value: Any) -> set[str]:
    """The intrinsic functions (Ref, Fn::...) anywhere in a JSON value."""
    if isinstance(value, dict):
        return {key for key in value if key == "Ref" or key.startswith("Fn::")}.union(*map(intrinsic_functions, value.values()))
    if isinstance(value, list):
        return set().union(*map(intrinsic_functions, value))
    return set()


def test_no_intrinsic_function_is_left_in_any_policy():
    documents = [policy.document for policy in d.policies()]
    assert intrinsic_functions(documents) == set()
    assert "${" not in json.dumps(documents)


def test_every_role_is_linted_and_checked_functions_generated_roles_included():
    roles = {logical for logical, resource in d.stack().resources.items() if resource["Type"] == "AWS::IAM::Role"}
    assert {f"{name}Role" for name in t.functions()} <= roles
    assert set(d.identity_policies()) == roles
    # and the orchard command's users' policy, attached to no role of the stack (tests/workflow/test_orchard_cli.py)
    assert {policy.resource for policy in d.policies() if policy.kind == "identity"} == roles | {"CliUserPolicy"}


def test_the_sam_policy_template_names_the_deployed_state_machine():
    (policy,) = [p for p in d.policies() if p.resource == "StartFromUploadFunctionRole" and p.kind == "identity"
                 and p.name.endswith("RolePolicy0")]
    assert policy.document["Statement"] == [{"Action": ["states:StartExecution"], "Effect": "Allow",
                                             "Resource": STATE_MACHINE_ARN}]


def test_references_become_arns_in_aws_formats():
    names = d.physical_names()
    function = names["PrepareRunFunction.Arn"]
    assert re.fullmatch(rf"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orchard-PrepareRunFunction-[A-Z2-7]{{12}}", function)
    assert names["InputsBucket.Arn"] == "arn:aws:s3:::orchard-inputs-local"
    assert names["FailureTopic"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{names['FailureTopic.TopicName']}"
    assert names["StateMachineRole.Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{names['StateMachineRole']}"
    assert names["PrepareRunLogGroup"] == f"/aws/lambda/{names['PrepareRunFunction']}"  # its LogGroupName, rendered
    (invoke,) = [s for p in d.policies() if p.name == "Policies/RunThePipeline"
                 for s in p.document["Statement"] if s.get("Sid") == "InvokeOurFunctions"]
    assert function in invoke["Resource"]


def test_each_principal_is_the_role_its_resource_names():
    assert d.role_of("PrepareRunFunction") == "PrepareRunFunctionRole"
    assert d.role_of("PipelineStateMachine") == "StateMachineRole"
    profile = d.instance_profile_named(d.physical_names()["EmrInstanceProfile"])
    assert d.role_of(profile) == "EmrInstanceRole"


def test_the_instance_profile_is_named_as_its_role():
    """EMR refuses an instance profile named otherwise than its role ("invalid instance profile": EMR Management
    Guide, "Customize IAM roles with Amazon EMR"); CloudFormation would generate two different names."""
    names = d.physical_names()
    assert names["EmrInstanceProfile"] == names["EmrInstanceRole"]
    assert d.role_of(d.instance_profile_named(names["EmrInstanceRole"])) == "EmrInstanceRole"


def test_emr_may_pass_the_instance_role_which_its_v2_managed_policy_alone_does_not_allow():
    """AmazonEMRServicePolicy_v2 lets EMR pass EMR_EC2_DefaultRole only (its PassRoleForEC2 statement)."""
    pass_instance_role = Permission("iam:PassRole", d.physical_names()["EmrInstanceRole.Arn"])
    assert not allowed([d.aws_managed_policies()[EMR_SERVICE_POLICY_V2]], pass_instance_role)
    assert allowed(d.identity_policies()["EmrServiceRole"], pass_instance_role)


def test_emr_makes_and_tags_the_clusters_security_groups_itself():
    """The v2 managed policy needs the tag on every security group EMR uses (the network's tags are checked in
    test_contract): EMR tags those it creates, and the template gives the clusters no other."""
    assert not any(resource["Type"].startswith("AWS::EC2::SecurityGroup") for resource in d.stack().resources.values())


def test_spots_service_linked_role_is_created_only_when_asked_and_outlives_the_stack():
    """EC2 creates AWSServiceRoleForEC2Spot by itself only for a console request, and AmazonEMRServicePolicy_v2
    cannot create it (EC2 User Guide, "Service-linked role for Spot Instance requests")."""
    assert "Ec2SpotServiceLinkedRole" not in d.stack().resources  # by default: the account may have it already
    template = copy.deepcopy(d.transformed())
    template["Parameters"]["CreateSpotServiceLinkedRole"]["Default"] = "true"
    role = d.Stack(template).resources["Ec2SpotServiceLinkedRole"]
    assert role["Type"] == "AWS::IAM::ServiceLinkedRole"
    assert role["Properties"]["AWSServiceName"] == "spot.amazonaws.com"
    assert (role["DeletionPolicy"], role["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert "ServiceLinkedRole" not in json.dumps(d.aws_managed_policies()[EMR_SERVICE_POLICY_V2])


def test_prepare_may_read_spots_service_linked_role_and_no_other_role():
    prepare = d.identity_policies()["PrepareRunFunctionRole"]
    for spot_role in (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot",
                      f"arn:aws:iam::{ACCOUNT}:role/AWSServiceRoleForEC2Spot"):
        assert allowed(prepare, Permission("iam:GetRole", spot_role)), spot_role
    assert not allowed(prepare, Permission("iam:GetRole", d.physical_names()["EmrServiceRole.Arn"]))


def test_a_role_holds_its_attached_aws_managed_policies_documents():
    documents = d.identity_policies()["PrepareRunFunctionRole"]
    actions = {action for document in documents for statement in document["Statement"]
               for action in statement["Action"]}
    assert {"logs:PutLogEvents", "xray:PutTraceSegments", "s3:GetObject"} <= actions


def test_conditions_decide_what_is_deployed_and_what_fn_if_gives():
    template = {
        "Parameters": {"Email": {"Type": "String", "Default": ""}},
        "Conditions": {"HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"},
                      "Subscription": {"Type": "AWS::SNS::Subscription", "Condition": "HasEmail"}},
    }
    stack = d.Stack(template)

    assert set(stack.resources) == {"Topic"}
    assert stack.render({"Resource": [{"Fn::GetAtt": ["Topic", "TopicName"]},
                                      {"Fn::If": ["HasEmail", "x", {"Ref": "AWS::NoValue"}]}]}) == {
        "Resource": [d.generated_name("Topic", "AWS::SNS::Topic")]}
    assert "FailureEmailSubscription" not in d.stack().resources  # NotificationEmail defaults to ""
