"""template.yaml, translated offline with aws-sam-translator into what CloudFormation deploys."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from .sam_offline import (
    definition_for,
    load_template,
    parameter_problem,
    placeholders,
    translate,
)

FUNCTIONS = (
    "BaseConcurrencyTestFunction",
    "ProvisionedConcurrencyTestFunction",
    "SnapStartConcurrencyTestFunction",
)
STATE_MACHINES = (
    "BaseConcurrencyTestStateMachine",
    "ProvisionedConcurrencyTestStateMachine",
    "SnapStartConcurrencyTestStateMachine",
)
SNAPSTART = ("SnapStartConcurrencyTestFunction", "SnapStartConcurrencyTestStateMachine")
CONTRACT_DEFAULTS = {
    "ColdStartDelaySeconds": "5",
    "FunctionDurationSeconds": "3",
    "ReservedConcurrency": "200",
    "ProvisionedConcurrency": "150",
    "MemorySize": "128",
    "MapMaxConcurrency": "0",
}


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    # The translator reads the Region from a boto3 session, as the real transform knows it.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        translated: dict[str, Any] = translate()["Resources"]
    return translated


def logical_id(resources: dict[str, Any], pattern: str) -> str:
    (match,) = [name for name in resources if re.fullmatch(pattern, name)]
    return match


def test_the_transform_yields_the_original_samples_resources_and_the_snapstart_arm(
    resources: dict[str, Any],
) -> None:
    # With LoadMode DISTRIBUTED only, one IAM policy per state machine role; the SnapStart arm
    # (function, version, alias, state machine and its role) only with SnapStartOn.
    conditions = {name: resource.get("Condition") for name, resource in resources.items()}
    policies = {f"{m}DistributedMapPolicy" for m in STATE_MACHINES}
    assert {n for n, c in conditions.items() if c == "DistributedLoad"} == policies - {
        "SnapStartConcurrencyTestStateMachineDistributedMapPolicy"
    }
    assert conditions["SnapStartConcurrencyTestStateMachineDistributedMapPolicy"] == (
        "SnapStartDistributed"
    )
    snap = {n for n, c in conditions.items() if c == "SnapStartOn"}
    assert snap == {
        "SnapStartConcurrencyTestFunction",
        "SnapStartConcurrencyTestFunctionAliaslive",
        logical_id(resources, r"SnapStartConcurrencyTestFunctionVersion[0-9a-f]{10}"),
        "SnapStartConcurrencyTestStateMachine",
        "SnapStartConcurrencyTestStateMachineRole",
    }
    types = {name: resource["Type"] for name, resource in resources.items() if name not in policies}
    expected = {"LambdaExecutionRole": "AWS::IAM::Role"}
    for machine in STATE_MACHINES:
        expected[machine] = "AWS::StepFunctions::StateMachine"
        expected[f"{machine}Role"] = "AWS::IAM::Role"
    for function in FUNCTIONS:
        expected[function] = "AWS::Lambda::Function"
        expected[f"{function}Aliaslive"] = "AWS::Lambda::Alias"
        expected[logical_id(resources, rf"{function}Version[0-9a-f]{{10}}")] = (
            "AWS::Lambda::Version"
        )
    assert types == expected


def test_only_the_snapstart_arm_has_snapstart_on_published_versions_and_no_pc(
    resources: dict[str, Any],
) -> None:
    base, provisioned, snap = (resources[f]["Properties"] for f in FUNCTIONS)
    assert snap["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert "SnapStart" not in base and "SnapStart" not in provisioned
    assert "ReservedConcurrentExecutions" not in snap
    alias = resources["SnapStartConcurrencyTestFunctionAliaslive"]["Properties"]
    assert "ProvisionedConcurrencyConfig" not in alias  # Lambda refuses PC on a SnapStart version


def test_the_snapstart_arm_is_on_for_python312_and_later_and_refused_on_python311() -> None:
    template = load_template()
    conditions = template["Conditions"]
    assert conditions["SnapStartRuntime"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PythonRuntime"}, "python3.11"]}]
    }
    assert template["Parameters"]["SnapStartArm"]["AllowedValues"] == ["auto", "on", "off"]
    assert "python3.12" in template["Parameters"]["PythonRuntime"]["Description"]
    (rule,) = template["Rules"].values()
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "SnapStartArm"}, "on"]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PythonRuntime"}, "python3.11"]}]
    }
    assert "PythonRuntime=python3.12" in assertion["AssertDescription"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_both_functions_are_traced_python_behind_a_live_alias(
    resources: dict[str, Any], function: str
) -> None:
    properties = resources[function]["Properties"]
    assert properties["Handler"] == "concurrencytest.lambda_handler"
    assert properties["Runtime"] == {"Ref": "PythonRuntime"}
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["MemorySize"] == {"Ref": "MemorySize"}
    assert properties["Role"] == {"Fn::GetAtt": ["LambdaExecutionRole", "Arn"]}
    assert properties["Environment"]["Variables"] == {
        "COLD_START_DELAY": {"Ref": "ColdStartDelaySeconds"},
        "FUNCTION_DURATION": {"Ref": "FunctionDurationSeconds"},
    }
    version = logical_id(resources, rf"{function}Version[0-9a-f]{{10}}")
    alias = resources[f"{function}Aliaslive"]["Properties"]
    assert alias["Name"] == "live"
    assert alias["FunctionName"] == {"Ref": function}
    assert alias["FunctionVersion"] == {"Fn::GetAtt": [version, "Version"]}


def test_only_the_base_function_has_reserved_and_only_the_other_alias_has_provisioned_concurrency(
    resources: dict[str, Any],
) -> None:
    base, provisioned, _ = (resources[f]["Properties"] for f in FUNCTIONS)
    assert base["ReservedConcurrentExecutions"] == {"Ref": "ReservedConcurrency"}
    assert "ReservedConcurrentExecutions" not in provisioned
    assert resources["ProvisionedConcurrencyTestFunctionAliaslive"]["Properties"][
        "ProvisionedConcurrencyConfig"
    ] == {"ProvisionedConcurrentExecutions": {"Ref": "ProvisionedConcurrency"}}
    assert (
        "ProvisionedConcurrencyConfig"
        not in (resources["BaseConcurrencyTestFunctionAliaslive"]["Properties"])
    )


@pytest.mark.parametrize(("machine", "function"), list(zip(STATE_MACHINES, FUNCTIONS, strict=True)))
def test_each_state_machine_substitutes_its_own_alias_arn(
    resources: dict[str, Any], machine: str, function: str
) -> None:
    properties = resources[machine]["Properties"]
    # Ref of an AWS::Lambda::Alias is the qualified alias ARN; GetAtt Function.Arn would be the
    # unqualified ARN, which bypasses provisioned concurrency.
    assert properties["DefinitionSubstitutions"] == {
        "FunctionAliasArn": {"Ref": f"{function}Aliaslive"},
        "MapMaxConcurrency": {"Ref": "MapMaxConcurrency"},
        "LoadMode": {"Ref": "LoadMode"},
    }
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["RoleArn"] == {"Fn::GetAtt": [f"{machine}Role", "Arn"]}
    assert set(properties["DefinitionS3Location"]) == {"Bucket", "Key"}


def test_every_placeholder_in_the_definition_is_substituted() -> None:
    template = load_template()
    for machine in STATE_MACHINES:
        given = set(template["Resources"][machine]["Properties"]["DefinitionSubstitutions"])
        assert placeholders() == given


@pytest.mark.parametrize(("machine", "function"), list(zip(STATE_MACHINES, FUNCTIONS, strict=True)))
def test_state_machine_roles_may_only_invoke_their_own_alias(
    resources: dict[str, Any], machine: str, function: str
) -> None:
    role = resources[f"{machine}Role"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": ["sts:AssumeRole"],
            "Effect": "Allow",
            "Principal": {"Service": ["states.amazonaws.com"]},
        }
    ]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {"Ref": f"{function}Aliaslive"},
        }
    ]
    # Tracing needs X-Ray writes: SAM adds AWS's write-only policy, nothing broader.
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"]


@pytest.mark.parametrize("machine", STATE_MACHINES)
def test_a_distributed_map_may_start_and_stop_only_its_own_state_machines_executions(
    resources: dict[str, Any], machine: str
) -> None:
    template = load_template()
    assert template["Conditions"]["DistributedLoad"] == {
        "Fn::Equals": [{"Ref": "LoadMode"}, "DISTRIBUTED"]
    }
    assert template["Conditions"]["SnapStartDistributed"] == {
        "Fn::And": [{"Condition": "SnapStartOn"}, {"Condition": "DistributedLoad"}]
    }
    policy = resources[f"{machine}DistributedMapPolicy"]
    # an inline Map needs none of it (and a left-out arm no policy)
    assert policy["Condition"] in ("DistributedLoad", "SnapStartDistributed")
    properties = policy["Properties"]
    assert properties["Roles"] == [{"Ref": f"{machine}Role"}]
    execution = (
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
        f"${{{machine}.Name}}"
    )
    assert properties["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": {"Ref": machine}},
        {
            "Effect": "Allow",
            "Action": ["states:DescribeExecution", "states:StopExecution"],
            "Resource": [{"Fn::Sub": execution + ":*"}, {"Fn::Sub": execution + "/*"}],
        },
    ]
    # no cycle: the state machine needs its role, the policy needs both, neither needs the policy
    machine_json = json.dumps(resources[machine])
    role_json = json.dumps(resources[f"{machine}Role"])
    assert "DistributedMapPolicy" not in machine_json + role_json


def test_the_function_role_gets_logging_and_xray_writes_only(resources: dict[str, Any]) -> None:
    role = resources["LambdaExecutionRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    policy = "arn:${AWS::Partition}:iam::aws:policy/"
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": policy + "service-role/AWSLambdaBasicExecutionRole"},
        {"Fn::Sub": policy + "AWSXRayDaemonWriteAccess"},
    ]
    assert "Policies" not in role


def test_outputs_name_the_state_machines_functions_and_alias_arns() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        outputs = translate()["Outputs"]
    assert {name: output["Value"] for name, output in outputs.items()} == {
        "BaseConcurrencyTestStateMachineArn": {"Ref": "BaseConcurrencyTestStateMachine"},
        "ProvisionedConcurrencyTestStateMachineArn": {
            "Ref": "ProvisionedConcurrencyTestStateMachine"
        },
        "BaseConcurrencyTestFunctionName": {"Ref": "BaseConcurrencyTestFunction"},
        "ProvisionedConcurrencyTestFunctionName": {"Ref": "ProvisionedConcurrencyTestFunction"},
        "BaseConcurrencyTestFunctionAliasArn": {"Ref": "BaseConcurrencyTestFunctionAliaslive"},
        "ProvisionedConcurrencyTestFunctionAliasArn": {
            "Ref": "ProvisionedConcurrencyTestFunctionAliaslive"
        },
        "SnapStartConcurrencyTestStateMachineArn": {"Ref": "SnapStartConcurrencyTestStateMachine"},
        "SnapStartConcurrencyTestFunctionName": {"Ref": "SnapStartConcurrencyTestFunction"},
        "SnapStartConcurrencyTestFunctionAliasArn": {
            "Ref": "SnapStartConcurrencyTestFunctionAliaslive"
        },
    }
    assert {n for n, o in outputs.items() if o.get("Condition") == "SnapStartOn"} == {
        n for n in outputs if n.startswith("SnapStart")
    }


def test_the_definition_invokes_the_substituted_alias_with_retries_and_a_catch() -> None:
    alias = "arn:aws:lambda:us-east-1:123456789012:function:pclab-Base-1:live"
    definition = definition_for(alias, "7")
    assert definition["States"]["ReadMaxConcurrency"]["Parameters"]["maxConcurrency.$"] == (
        "States.StringToJson('7')"
    )
    map_state = definition["States"]["InvokeForEachItem"]
    assert map_state["ItemsPath"] == "$.items"
    assert map_state["ItemSelector"] == {"item.$": "$$.Map.Item.Value"}
    task = map_state["ItemProcessor"]["States"]["InvokeFunction"]
    assert task["Resource"] == "arn:aws:states:::lambda:invoke"
    assert task["Parameters"] == {"FunctionName": alias, "Payload": {"item.$": "$.item"}}
    (retry,) = task["Retry"]
    assert set(retry["ErrorEquals"]) == {
        "Lambda.TooManyRequestsException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
    }
    assert retry["JitterStrategy"] == "FULL" and retry["BackoffRate"] > 1
    assert task["Catch"][0]["ErrorEquals"] == ["States.ALL"]


def test_load_mode_chooses_between_the_inline_map_and_a_distributed_map_of_express_children() -> (
    None
):
    definition = definition_for("arn:aws:lambda:us-east-1:123456789012:function:f:live", "0")
    states = definition["States"]
    assert states["ReadMaxConcurrency"]["Parameters"]["loadMode"] == "DISTRIBUTED"
    assert states["ReadMaxConcurrency"]["Next"] == "ChooseLoadMode"
    choice = states["ChooseLoadMode"]
    assert choice["Choices"] == [
        {
            "Variable": "$.loadMode",
            "StringEquals": "DISTRIBUTED",
            "Next": "InvokeForEachItemDistributed",
        }
    ]
    assert choice["Default"] == "InvokeForEachItem"
    inline, distributed = states["InvokeForEachItem"], states["InvokeForEachItemDistributed"]
    assert inline["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert distributed["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "EXPRESS",
    }
    # The same Map around the same child workflow: only the child's state names differ (state
    # names must be unique in the whole definition), so both modes give the same results.
    outer = ("ItemsPath", "MaxConcurrencyPath", "ItemSelector", "ResultSelector", "End")
    assert {k: inline[k] for k in outer} == {k: distributed[k] for k in outer}
    renamed = json.dumps(distributed["ItemProcessor"]["States"]).replace("InChild", "")
    assert json.loads(renamed) == inline["ItemProcessor"]["States"]
    # Each iteration first decides when its item arrives (startAfterSeconds), then invokes.
    assert distributed["ItemProcessor"]["StartAt"] == "ArriveNowOrLaterInChild"
    assert inline["ItemProcessor"]["StartAt"] == "ArriveNowOrLater"


# --- parameters ----------------------------------------------------------------------------------


def test_parameters_have_the_contract_defaults_and_all_are_constrained() -> None:
    parameters = load_template()["Parameters"]
    assert {
        name: str(parameters[name]["Default"]) for name in CONTRACT_DEFAULTS
    } == CONTRACT_DEFAULTS
    # the load mode that reaches the concurrency asked for is the default
    assert parameters["LoadMode"]["Default"] == "DISTRIBUTED"
    for name, spec in parameters.items():
        assert parameter_problem(spec, str(spec["Default"])) is None, name
        assert spec.get("Description"), name
        constrained = {"MinValue", "AllowedPattern", "AllowedValues"} & set(spec)
        assert constrained, f"{name} accepts anything"
        if "AllowedPattern" in spec:
            # Anchored, so "whole value" and "search" regex semantics agree.
            assert spec["AllowedPattern"].startswith("^") and spec["AllowedPattern"].endswith("$")
        if constrained != {"AllowedValues"}:
            assert spec.get("ConstraintDescription"), f"{name} would be refused without a reason"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ColdStartDelaySeconds", "-1"),
        ("ColdStartDelaySeconds", "10"),
        ("ColdStartDelaySeconds", "five"),
        ("FunctionDurationSeconds", "-0.5"),
        ("FunctionDurationSeconds", "61"),
        ("ReservedConcurrency", "0"),
        ("ReservedConcurrency", "-5"),
        ("ReservedConcurrency", "1.5"),
        ("ReservedConcurrency", "10000"),
        ("ProvisionedConcurrency", "0"),
        ("ProvisionedConcurrency", "abc"),
        ("ProvisionedConcurrency", "150 "),
        ("ProvisionedConcurrency", "015"),
        ("MemorySize", "64"),
        ("MemorySize", "127"),
        ("MemorySize", "10241"),
        ("MemorySize", "1024.5"),
        ("MapMaxConcurrency", "-1"),
        ("MapMaxConcurrency", "x"),
        ("PythonRuntime", "python3.9"),
        ("PythonRuntime", "nodejs20.x"),
        ("LoadMode", "distributed"),
        ("LoadMode", "EXPRESS"),
    ],
)
def test_nonsense_parameter_values_are_refused_with_a_reason(name: str, value: str) -> None:
    spec = load_template()["Parameters"][name]
    assert parameter_problem(spec, value) is not None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ColdStartDelaySeconds", "0"),
        ("ColdStartDelaySeconds", "0.5"),
        ("ColdStartDelaySeconds", "9"),
        ("FunctionDurationSeconds", "60"),
        ("ReservedConcurrency", "1"),
        ("ReservedConcurrency", "900"),
        ("ProvisionedConcurrency", "1"),
        ("MemorySize", "1769"),
        ("MapMaxConcurrency", "40"),
        ("PythonRuntime", "python3.13"),
        ("LoadMode", "INLINE"),
        ("LoadMode", "DISTRIBUTED"),
    ],
)
def test_sensible_parameter_values_are_accepted(name: str, value: str) -> None:
    spec = load_template()["Parameters"][name]
    assert parameter_problem(spec, value) is None


def test_memory_size_accepts_exactly_lambdas_range() -> None:
    spec = load_template()["Parameters"]["MemorySize"]
    accepted = [n for n in range(0, 20_001) if parameter_problem(spec, str(n)) is None]
    assert accepted == list(range(128, 10_241))


def _inline_parameters(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        return {key: _inline_parameters(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_parameters(value, values) for value in node]
    return node


@pytest.mark.parametrize("edge", ["lowest", "highest"])
def test_the_extreme_values_the_parameters_accept_pass_the_resource_schemas(edge: str) -> None:
    """cfn-lint checks the translated resources, with the parameter values written in."""
    from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]

    lowest = edge == "lowest"
    values: dict[str, Any] = {
        "ColdStartDelaySeconds": "0" if lowest else "9",
        "FunctionDurationSeconds": "0" if lowest else "60",
        "ReservedConcurrency": 1 if lowest else 9999,
        "ProvisionedConcurrency": 1 if lowest else 9999,
        "MemorySize": 128 if lowest else 10240,
        "MapMaxConcurrency": "0" if lowest else "9999",
        "PythonRuntime": "python3.11" if lowest else "python3.13",
        "LoadMode": "INLINE" if lowest else "DISTRIBUTED",
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        translated = translate()
    translated.pop("Parameters")
    # with the values written in, the conditions are constants: apply them as CloudFormation does
    # (SnapStartArm auto: the SnapStart arm only on python3.12 and later)
    assert set(translated.pop("Conditions")) == {
        "DistributedLoad",
        "SnapStartRuntime",
        "SnapStartOn",
        "SnapStartDistributed",
    }
    translated.pop("Rules", None)
    distributed = values["LoadMode"] == "DISTRIBUTED"
    snap = values["PythonRuntime"] != "python3.11"
    holds = {
        "DistributedLoad": distributed,
        "SnapStartOn": snap,
        "SnapStartDistributed": snap and distributed,
    }
    resources = translated["Resources"]
    for name in [n for n, r in resources.items() if "Condition" in r]:
        if not holds[resources[name].pop("Condition")]:
            del resources[name]
    for name in [n for n, o in translated["Outputs"].items() if "Condition" in o]:
        if not holds[translated["Outputs"][name].pop("Condition")]:
            del translated["Outputs"][name]
    document = json.dumps(_inline_parameters(translated, values))
    assert [m.message for m in lint(document, config=ManualArgs(regions=["us-east-1"]))] == []
