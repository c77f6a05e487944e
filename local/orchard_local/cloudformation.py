"""The local stack as CloudFormation lists it, so that what finds a deployed stack by its name finds it too (the
`orchard` command: DescribeStacks).

A stack named as samconfig.toml names it (`orchard_local.deployed.STACK_NAME`), created in moto's CloudFormation,
whose Outputs are template.yaml's, resolved to the local stack's names. The rest of the stack is played by
orchard_local.stack; this one holds a single no-op resource (a wait condition handle, which moto does not model: a
stack holds at least one resource), created with moto's warning about it silenced.
"""

from __future__ import annotations

import json
import warnings

import boto3

from orchard_local import template as t
from orchard_local.account import REGION
from orchard_local.deployed import STACK_NAME


def stack_outputs(names: dict[str, str]) -> dict[str, dict[str, str]]:
    """template.yaml's Outputs, each value resolved to the local stack's names (`names`)."""
    return {key: {"Value": t.resolve(output["Value"], names), "Description": output["Description"]}
            for key, output in t.template()["Outputs"].items()}


def create_stack_record(names: dict[str, str]) -> str:
    """Create the stack in moto's CloudFormation; its id."""
    template = {"AWSTemplateFormatVersion": "2010-09-09",
                "Description": "Orchard, deployed into moto by orchard_local.stack",
                "Resources": {"Deployed": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                "Outputs": stack_outputs(names)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tried to parse AWS::CloudFormation::WaitConditionHandle")
        return boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=STACK_NAME, TemplateBody=json.dumps(template))["StackId"]
