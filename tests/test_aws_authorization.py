"""The IAM action and resources an AWS request needs, from the Service Authorization Reference."""

from __future__ import annotations

import botocore.session
import pytest

from orchard_local.authorization import Permission, permissions

REGION, ACCOUNT = "eu-west-1", "123456789012"
CLUSTER = f"arn:aws:elasticmapreduce:{REGION}:{ACCOUNT}:cluster"
STATE_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:orchard-pipeline"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orchard-PrepareRunFunction-ABCDEFGHIJKL"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:orchard-failures"


def needed(service: str, operation: str, params: dict, status: int = 200) -> list[Permission]:
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    return permissions(model, params, region=REGION, account=ACCOUNT, status=status)


@pytest.mark.parametrize(("service", "operation", "params", "expected"), [
    ("s3", "GetObject", {"Bucket": "b", "Key": "runs/x/a.json"}, [("s3:GetObject", "arn:aws:s3:::b/runs/x/a.json")]),
    ("s3", "HeadObject", {"Bucket": "b", "Key": "k"}, [("s3:GetObject", "arn:aws:s3:::b/k")]),
    ("s3", "GetObject", {"Bucket": "b", "Key": "k", "VersionId": "v1"}, [("s3:GetObjectVersion", "arn:aws:s3:::b/k")]),
    ("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "runs/"}, [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("s3", "UploadPart", {"Bucket": "b", "Key": "k", "PartNumber": 1, "UploadId": "u"}, [("s3:PutObject", "arn:aws:s3:::b/k")]),
    ("s3", "DeleteObject", {"Bucket": "b", "Key": "k"}, [("s3:DeleteObject", "arn:aws:s3:::b/k")]),
    # a copy writes its destination and reads its source, named as botocore sends it (URL-encoded) or as given
    ("s3", "CopyObject", {"Bucket": "b", "Key": "runs/x/features/p.parquet", "CopySource": "a/runs/x/_staging/p%23%20q.parquet"},
     [("s3:PutObject", "arn:aws:s3:::b/runs/x/features/p.parquet"), ("s3:GetObject", "arn:aws:s3:::a/runs/x/_staging/p# q.parquet")]),
    ("s3", "CopyObject", {"Bucket": "b", "Key": "k", "CopySource": {"Bucket": "a", "Key": "s"}},
     [("s3:PutObject", "arn:aws:s3:::b/k"), ("s3:GetObject", "arn:aws:s3:::a/s")]),
    ("emr", "RunJobFlow", {"Name": "c", "Instances": {}}, [("elasticmapreduce:RunJobFlow", "*")]),
    ("emr", "ListClusters", {"ClusterStates": ["RUNNING"]}, [("elasticmapreduce:ListClusters", "*")]),
    ("emr", "DescribeCluster", {"ClusterId": "j-1"}, [("elasticmapreduce:DescribeCluster", f"{CLUSTER}/j-1")]),
    ("emr", "AddJobFlowSteps", {"JobFlowId": "j-1", "Steps": []}, [("elasticmapreduce:AddJobFlowSteps", f"{CLUSTER}/j-1")]),
    ("emr", "TerminateJobFlows", {"JobFlowIds": ["j-1", "j-2"]},
     [("elasticmapreduce:TerminateJobFlows", f"{CLUSTER}/j-1"), ("elasticmapreduce:TerminateJobFlows", f"{CLUSTER}/j-2")]),
    ("stepfunctions", "StartExecution", {"stateMachineArn": STATE_MACHINE, "name": "n", "input": "{}"},
     [("states:StartExecution", STATE_MACHINE)]),
    ("lambda", "Invoke", {"FunctionName": FUNCTION}, [("lambda:InvokeFunction", FUNCTION)]),
    ("sns", "Publish", {"TopicArn": TOPIC, "Message": "m"}, [("sns:Publish", TOPIC)]),
    # no resource type in the Service Authorization Reference (parliament's copy of it): "*"
    ("service-quotas", "GetServiceQuota", {"ServiceCode": "ec2", "QuotaCode": "L-1216C47A"},
     [("servicequotas:GetServiceQuota", "*")]),
    ("ec2", "DescribeInstanceTypes", {"InstanceTypes": ["m5.xlarge"]}, [("ec2:DescribeInstanceTypes", "*")]),
    # a role's ARN holds its path: a service-linked role's is aws-service-role/<service>/
    ("iam", "GetRole", {"RoleName": "AWSServiceRoleForEC2Spot"},
     [("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot")]),
    ("iam", "GetRole", {"RoleName": "orchard-emr-service-role"},
     [("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/orchard-emr-service-role")]),
])
def test_a_request_needs_its_action_on_the_resources_it_names(service, operation, params, expected):
    assert needed(service, operation, params) == [Permission(*p) for p in expected]


def test_a_global_service_s_client_region_names_its_partition():
    model = botocore.session.get_session().get_service_model("iam").operation_model("GetRole")
    assert permissions(model, {"RoleName": "AWSServiceRoleForEC2Spot"}, region="aws-global", account=ACCOUNT,
                       status=200) == [Permission("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/"
                                                                 "spot.amazonaws.com/AWSServiceRoleForEC2Spot")]


def test_reading_a_missing_object_as_not_found_needs_list_bucket_too():
    assert needed("s3", "GetObject", {"Bucket": "b", "Key": "k"}, status=404) == [
        Permission("s3:GetObject", "arn:aws:s3:::b/k"), Permission("s3:ListBucket", "arn:aws:s3:::b")]


def test_an_operation_without_a_known_action_is_an_error_not_a_guess():
    with pytest.raises(LookupError, match="s3:SelectObjectContent"):
        needed("s3", "SelectObjectContent", {"Bucket": "b", "Key": "k"})
