"""CloudFormation on the local cloud, driven with boto3 the way SAM CLI drives it (change sets).

Small templates of our own keep these fast; test_deploy_e2e.py runs the real scripts and template.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.cloud_helpers import Cloud, RecordingLayer, handler_zip

BUCKET = "cfn-tests"
DEFINITION = {
    "StartAt": "Call",
    "States": {
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${FunctionAliasArn}", "Payload.$": "$"},
            "End": True,
        }
    },
}


def sam_template(extra_role_property: str = "", function_extra: str = "") -> str:
    return f"""
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  ProvisionedConcurrency: {{Type: Number, Default: 2}}
  ReservedConcurrency: {{Type: Number, Default: 7}}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      {extra_role_property}
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {{Effect: Allow, Principal: {{Service: lambda.amazonaws.com}}, Action: sts:AssumeRole}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://{BUCKET}/code.zip
      Handler: app.handler
      Runtime: python3.11
      Role: !GetAtt Role.Arn
      Tracing: Active
      AutoPublishAlias: live
      ReservedConcurrentExecutions: !Ref ReservedConcurrency
      ProvisionedConcurrencyConfig:
        ProvisionedConcurrentExecutions: !Ref ProvisionedConcurrency
      {function_extra}
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: {{Bucket: {BUCKET}, Key: machine.asl.json}}
      DefinitionSubstitutions:
        FunctionAliasArn: !Ref Fn.Alias
      Tracing: {{Enabled: true}}
      Policies:
        - LambdaInvokePolicy: {{FunctionName: !Ref Fn}}
Outputs:
  AliasArn: {{Value: !Ref Fn.Alias}}
  MachineArn: {{Value: !Ref Machine}}
  MachineName: {{Value: !GetAtt Machine.Name}}
  MachineArnAttribute: {{Value: !GetAtt Machine.Arn}}
  FunctionName: {{Value: !Ref Fn}}
"""


@pytest.fixture(scope="module")
def artifacts(cloud: Cloud) -> Cloud:
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="code.zip", Body=handler_zip())
    s3.put_object(Bucket=BUCKET, Key="machine.asl.json", Body=json.dumps(DEFINITION).encode())
    return cloud


def wait_stack(cfn: Any, name: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return stack
        time.sleep(0.1)


def events(cfn: Any, name: str, logical_id: str | None = None) -> list[str]:
    """Statuses of the stack's own events (or one resource's), newest first."""
    found = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return [e["ResourceStatus"] for e in found if e["LogicalResourceId"] == (logical_id or name)]


def deploy(cloud: Cloud, name: str, body: str, parameters: dict[str, str] | None = None) -> Any:
    """What `sam deploy` does: create a change set, wait, execute it (CREATE or UPDATE)."""
    cfn = cloud.client("cloudformation")
    existing = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == name]
    kind = "UPDATE" if existing and existing[0]["StackStatus"].endswith("COMPLETE") else "CREATE"
    created = cfn.create_change_set(
        StackName=name,
        ChangeSetName=f"cs-{uuid.uuid4().hex[:8]}",
        TemplateBody=body,
        ChangeSetType=kind,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
        ],
    )
    change_set = cfn.describe_change_set(ChangeSetName=created["Id"], StackName=name)
    if change_set["Status"] == "CREATE_COMPLETE":
        cfn.execute_change_set(ChangeSetName=created["Id"], StackName=name)
    return change_set


@pytest.fixture
def stack_name(artifacts: Cloud) -> Iterator[str]:
    name = f"stack-{uuid.uuid4().hex[:8]}"
    yield name
    cfn = artifacts.client("cloudformation")
    if any(s["StackName"] == name for s in cfn.describe_stacks()["Stacks"]):
        cfn.delete_stack(StackName=name)


def test_sam_stack_from_change_set(artifacts: Cloud, stack_name: str) -> None:
    cloud = artifacts
    deploy(cloud, stack_name, sam_template())
    cfn = cloud.client("cloudformation")
    stack = wait_stack(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    resources = cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    types = sorted((r["LogicalResourceId"][:9], r["ResourceType"]) for r in resources)
    assert types == [
        ("Fn", "AWS::Lambda::Function"),
        ("FnAliasli", "AWS::Lambda::Alias"),
        ("FnVersion", "AWS::Lambda::Version"),
        ("Machine", "AWS::StepFunctions::StateMachine"),
        ("MachineRo", "AWS::IAM::Role"),
        ("Role", "AWS::IAM::Role"),
    ]
    resource_events = {
        (e["LogicalResourceId"], e["ResourceStatus"], e["PhysicalResourceId"])
        for e in cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    }
    assert ("Fn", "CREATE_COMPLETE", outputs["FunctionName"]) in resource_events
    assert ("FnAliaslive", "CREATE_COMPLETE", outputs["AliasArn"]) in resource_events
    lam = cloud.client("lambda")
    function = outputs["FunctionName"]
    assert outputs["AliasArn"].endswith(f":function:{function}:live")
    assert outputs["MachineArnAttribute"] == outputs["MachineArn"]
    assert outputs["MachineArn"].endswith(f":stateMachine:{outputs['MachineName']}")
    pc = lam.get_provisioned_concurrency_config(FunctionName=function, Qualifier="live")
    assert (pc["RequestedProvisionedConcurrentExecutions"], pc["Status"]) == (2, "READY")
    assert lam.get_function_concurrency(FunctionName=function)["ReservedConcurrentExecutions"] == 7
    assert (
        lam.get_function_configuration(FunctionName=function)["TracingConfig"]["Mode"] == "Active"
    )
    sfn = cloud.client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=outputs["MachineArn"])
    assert machine["tracingConfiguration"] == {"enabled": True}
    task = json.loads(machine["definition"])["States"]["Call"]
    assert task["Parameters"]["FunctionName"] == outputs["AliasArn"]
    assert outputs["MachineArn"] in [
        m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
    ]

    # unchanged: the change set has nothing to do; PC changed: only the alias is modified
    assert deploy(cloud, stack_name, sam_template())["Status"] == "FAILED"
    change_set = deploy(cloud, stack_name, sam_template(), {"ProvisionedConcurrency": "3"})
    assert [
        (c["ResourceChange"]["Action"], c["ResourceChange"]["ResourceType"])
        for c in change_set["Changes"]
    ] == [("Modify", "AWS::Lambda::Alias")]
    assert wait_stack(cfn, stack_name)["StackStatus"] == "UPDATE_COMPLETE"
    pc = lam.get_provisioned_concurrency_config(FunctionName=function, Qualifier="live")
    assert pc["RequestedProvisionedConcurrentExecutions"] == 3

    cfn.delete_stack(StackName=stack_name)
    assert lam.list_functions()["Functions"] == [] or function not in [
        f["FunctionName"] for f in lam.list_functions()["Functions"]
    ]
    assert outputs["MachineArn"] not in [
        m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
    ]
    assert cloud.control.provisioned_status("us-east-1", function, "live") is None
    assert cloud.control.get_function_concurrency is not None


def test_stack_waits_for_provisioned_concurrency(artifacts: Cloud, stack_name: str) -> None:
    layer = RecordingLayer(status="IN_PROGRESS")
    artifacts.control.attach_execution_layer(layer)
    try:
        deploy(artifacts, stack_name, sam_template())
        cfn = artifacts.client("cloudformation")
        time.sleep(0.3)
        assert (
            cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
            == "CREATE_IN_PROGRESS"
        )
        # no "complete" event before it is true: SAM CLI stops following events at that one
        assert "CREATE_COMPLETE" not in events(cfn, stack_name)
        assert "CREATE_COMPLETE" not in events(cfn, stack_name, "FnAliaslive")
        (function, qualifier), (spec, count) = next(iter(layer.provisioned.items()))
        assert (qualifier, count, spec.version) == ("live", 2, "1")
        assert layer.reserved[function] == 7
        layer.status = "READY"
        assert wait_stack(cfn, stack_name)["StackStatus"] == "CREATE_COMPLETE"
        assert events(cfn, stack_name).count("CREATE_COMPLETE") == 1
        assert events(cfn, stack_name, "FnAliaslive") == ["CREATE_COMPLETE", "CREATE_IN_PROGRESS"]
        cfn.delete_stack(StackName=stack_name)
        assert layer.provisioned == {} and function in layer.deleted_functions
    finally:
        artifacts.control.attach_execution_layer(None)


def test_failed_provisioning_rolls_the_stack_back(artifacts: Cloud, stack_name: str) -> None:
    artifacts.control.attach_execution_layer(RecordingLayer(status="FAILED"))
    try:
        deploy(artifacts, stack_name, sam_template())
        stack = wait_stack(artifacts.client("cloudformation"), stack_name)
    finally:
        artifacts.control.attach_execution_layer(None)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "init failed" in stack["StackStatusReason"]
    assert (
        events(artifacts.client("cloudformation"), stack_name, "FnAliaslive")[0] == "CREATE_FAILED"
    )
    assert (
        artifacts.client("cloudformation").list_stack_resources(StackName=stack_name)[
            "StackResourceSummaries"
        ]
        == []
    )


def test_unknown_property_fails_and_rolls_back(artifacts: Cloud, stack_name: str) -> None:
    cloud = artifacts
    functions_before = cloud.client("lambda").list_functions()["Functions"]
    deploy(cloud, stack_name, sam_template(extra_role_property="NotAProperty: 1"))
    cfn = cloud.client("cloudformation")
    stack = wait_stack(cfn, stack_name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [(e["LogicalResourceId"], e["ResourceStatusReason"]) for e in failed] == [
        (
            "Role",
            "Properties validation failed for resource Role with message: "
            "#: extraneous key [NotAProperty] is not permitted",
        )
    ]
    assert cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"] == []
    assert cloud.client("lambda").list_functions()["Functions"] == functions_before
    # as on AWS, the rolled-back stack cannot be updated (sam deploy says so): delete it first
    with pytest.raises(cfn.exceptions.ClientError) as caught:
        cfn.create_change_set(
            StackName=stack_name,
            ChangeSetName="again",
            TemplateBody=sam_template(),
            ChangeSetType="UPDATE",
            Capabilities=["CAPABILITY_IAM"],
        )
    assert caught.value.response["Error"]["Message"] == (
        f"Stack:{stack['StackId']} is in ROLLBACK_COMPLETE state and can not be updated."
    )


def test_invalid_sam_document_fails_the_change_set(artifacts: Cloud, stack_name: str) -> None:
    change_set = deploy(artifacts, stack_name, sam_template(function_extra="NotAProperty: 1"))
    assert change_set["Status"] == "FAILED"
    assert change_set["StatusReason"].startswith(
        "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application "
        "Specification document. Number of errors found: 1. Resource with id [Fn] is invalid."
    )
    cfn = artifacts.client("cloudformation")
    assert (
        cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        == "REVIEW_IN_PROGRESS"
    )
    # a corrected template deploys into the same stack name, as on AWS
    deploy(artifacts, stack_name, sam_template())
    assert wait_stack(cfn, stack_name)["StackStatus"] == "CREATE_COMPLETE"


def test_broken_yaml_is_a_template_format_error(artifacts: Cloud, stack_name: str) -> None:
    cfn = artifacts.client("cloudformation")
    with pytest.raises(cfn.exceptions.ClientError) as caught:
        deploy(artifacts, stack_name, "Resources:\n  A: [unclosed\n")
    assert caught.value.response["Error"]["Message"].startswith(
        "Template format error: YAML not well-formed."
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "Parameter 'ProvisionedConcurrency' must be a number"),
        ("0", "Parameter 'ProvisionedConcurrency' must be a number not less than 1"),
        ("9", "Parameter 'ProvisionedConcurrency' failed to satisfy constraint: at most 8"),
    ],
)
def test_parameter_constraints_are_checked(
    artifacts: Cloud, stack_name: str, value: str, message: str
) -> None:
    template = sam_template().replace(
        "ProvisionedConcurrency: {Type: Number, Default: 2}",
        "ProvisionedConcurrency: {Type: Number, Default: 2, MinValue: 1}\n"
        "  Small: {Type: Number, Default: 2, MaxValue: 8, ConstraintDescription: at most 8}",
    )
    name = "Small" if value == "9" else "ProvisionedConcurrency"
    cfn = artifacts.client("cloudformation")
    with pytest.raises(cfn.exceptions.ClientError) as caught:
        deploy(artifacts, stack_name, template, {name: value})
    expected = message.replace("'ProvisionedConcurrency'", f"'{name}'")
    assert caught.value.response["Error"]["Message"] == expected


def test_new_code_moves_the_alias_and_its_provisioned_pool(
    artifacts: Cloud, stack_name: str
) -> None:
    artifacts.client("s3").put_object(
        Bucket=BUCKET,
        Key="code2.zip",
        Body=handler_zip("def handler(event, context):\n    return 2\n"),
    )
    layer = RecordingLayer()
    artifacts.control.attach_execution_layer(layer)
    try:
        deploy(artifacts, stack_name, sam_template())
        cfn = artifacts.client("cloudformation")
        assert wait_stack(cfn, stack_name)["StackStatus"] == "CREATE_COMPLETE"
        deploy(artifacts, stack_name, sam_template().replace("code.zip", "code2.zip"))
        assert wait_stack(cfn, stack_name)["StackStatus"] == "UPDATE_COMPLETE"
    finally:
        artifacts.control.attach_execution_layer(None)
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["Outputs"]
    }
    lam = artifacts.client("lambda")
    alias = lam.get_alias(FunctionName=outputs["FunctionName"], Name="live")
    assert alias["FunctionVersion"] == "2"
    spec, count = layer.provisioned[(outputs["FunctionName"], "live")]
    assert (spec.version, count) == ("2", 2)
    pc = lam.get_provisioned_concurrency_config(
        FunctionName=outputs["FunctionName"], Qualifier="live"
    )
    assert pc["RequestedProvisionedConcurrentExecutions"] == 2


def test_create_and_update_stack_without_change_sets(artifacts: Cloud, stack_name: str) -> None:
    cfn = artifacts.client("cloudformation")
    template = sam_template().replace(
        "ProvisionedConcurrency: {Type: Number, Default: 2}",
        "ProvisionedConcurrency: {Type: Number, Default: 2, MaxValue: 5}",
    )
    with pytest.raises(cfn.exceptions.ClientError) as caught:
        cfn.create_stack(
            StackName=stack_name,
            TemplateBody=template,
            Parameters=[{"ParameterKey": "ProvisionedConcurrency", "ParameterValue": "6"}],
            Capabilities=["CAPABILITY_IAM"],
        )
    assert caught.value.response["Error"]["Message"] == (
        "Parameter 'ProvisionedConcurrency' must be a number not greater than 5"
    )
    assert stack_name not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
    cfn.create_stack(StackName=stack_name, TemplateBody=template, Capabilities=["CAPABILITY_IAM"])
    assert wait_stack(cfn, stack_name)["StackStatus"] == "CREATE_COMPLETE"
    cfn.update_stack(
        StackName=stack_name,
        TemplateBody=template,
        Parameters=[{"ParameterKey": "ProvisionedConcurrency", "ParameterValue": "3"}],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = wait_stack(cfn, stack_name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    function = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["FunctionName"]
    pc = artifacts.client("lambda").get_provisioned_concurrency_config(
        FunctionName=function, Qualifier="live"
    )
    assert pc["RequestedProvisionedConcurrentExecutions"] == 3


def test_unsupported_type_fails_with_its_name_and_rolls_back(
    artifacts: Cloud, stack_name: str
) -> None:
    cfn = artifacts.client("cloudformation")
    template = sam_template().replace(
        "Resources:\n",
        "Resources:\n  Graph:\n    Type: AWS::AppSync::GraphQLApi\n"
        "    Properties: {Name: g, AuthenticationType: API_KEY}\n",
        1,
    )
    deploy(artifacts, stack_name, template)
    stack = wait_stack(cfn, stack_name)
    reason = (
        "Resource Graph of type AWS::AppSync::GraphQLApi is not supported by the local cloud "
        "(the types it can create: `pclab local-cloud supported-types`, docs/local-cloud.md)"
    )
    assert (stack["StackStatus"], stack["StackStatusReason"]) == ("ROLLBACK_COMPLETE", reason)
    found = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    failed = [e for e in found if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [(e["LogicalResourceId"], e["ResourceType"]) for e in failed] == [
        ("Graph", "AWS::AppSync::GraphQLApi")
    ]
    assert cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"] == []


def test_a_false_condition_needs_no_support(artifacts: Cloud, stack_name: str) -> None:
    template = sam_template().replace(
        "Resources:\n",
        "Conditions:\n  Never: !Equals [a, b]\nResources:\n  Graph:\n"
        "    Type: AWS::AppSync::GraphQLApi\n    Condition: Never\n"
        "    Properties: {Name: g, AuthenticationType: API_KEY}\n",
        1,
    )
    deploy(artifacts, stack_name, template)
    stack = wait_stack(artifacts.client("cloudformation"), stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
