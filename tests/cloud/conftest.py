"""Fixtures for the runner's boto3 plumbing, against moto in this process (``mock_aws``).

moto stands in for AWS only; the runner's own code (pagination, batching, polling, errors) is
what runs. Step Functions executes definitions for real here (moto's interpreter), so progress
and failure handling see real Map events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from pclab.cloud.aws import Clients, make_clients
from pclab.cloud.stack import REQUIRED_OUTPUTS

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/pclab-test"

# A Map over the items whose iteration is a Pass state shaped like the real Lambda task's result
# (COMMON.md), so the whole runner can work without Lambda: ids, request ids and times are real
# per iteration, only no function runs.
FAKE_RESULT_MACHINE = {
    "StartAt": "InvokeForEachItem",
    "States": {
        "InvokeForEachItem": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemSelector": {"item.$": "$$.Map.Item.Value"},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Result",
                "States": {
                    "Result": {
                        "Type": "Pass",
                        "Parameters": {
                            "id.$": "$.item.id",
                            "req.$": "States.UUID()",
                            "env.$": "States.UUID()",
                            "first": True,
                            "initType": "on-demand",
                            "initMs": 1000.0,
                            "start": 1764170000.0,
                            "end": 1764170001.0,
                            "ver": "1",
                        },
                        "End": True,
                    }
                },
            },
            "ResultSelector": {"results.$": "$"},
            "End": True,
        }
    },
}

FAILING_MACHINE = {
    "StartAt": "Boom",
    "States": {
        "Boom": {"Type": "Fail", "Error": "Pclab.TestError", "Cause": "it broke on purpose"}
    },
}

WAITING_MACHINE = {
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": True}},
}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials, one region, and no endpoint that would bypass moto."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def clients(aws_env: None) -> Iterator[Clients]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield make_clients(REGION)


def create_machine(clients: Clients, name: str, definition: dict[str, Any]) -> str:
    reply = clients.stepfunctions.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE
    )
    return reply["stateMachineArn"]


def create_stack(clients: Clients, name: str, outputs: dict[str, str]) -> None:
    """A stack whose only job is to carry these outputs (like sam-deploy.sh leaves them)."""
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    clients.cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))


def experiment_outputs(reserved_machine: str, provisioned_machine: str) -> dict[str, str]:
    outputs = {
        "BaseConcurrencyTestStateMachineArn": reserved_machine,
        "ProvisionedConcurrencyTestStateMachineArn": provisioned_machine,
        "BaseConcurrencyTestFunctionName": "base-fn",
        "ProvisionedConcurrencyTestFunctionName": "pc-fn",
        "BaseConcurrencyTestFunctionAliasArn": (
            f"arn:aws:lambda:{REGION}:123456789012:function:base-fn:live"
        ),
        "ProvisionedConcurrencyTestFunctionAliasArn": (
            f"arn:aws:lambda:{REGION}:123456789012:function:pc-fn:live"
        ),
    }
    assert set(outputs) == set(REQUIRED_OUTPUTS)
    return outputs
