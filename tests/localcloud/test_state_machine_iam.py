"""A state machine's role must allow lambda:InvokeFunction on what its Lambda task calls.

AWS fails such a task with ``Lambda.AWSLambdaException`` and the AccessDeniedException's text;
the local cloud does the same, so an IAM mistake shows up locally before the first real deploy.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from localcloud.cloud_helpers import ACCOUNT, Cloud, RecordingLayer, make_function
from pclab.localcloud import iam_policy

TRUST = '{"Statement": [{"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}}]}'
CAUSE = re.compile(r"assumed-role/[^/]+/(?P<session>[A-Za-z]{32}) .*Request ID: (?P<rid>[^;]+);")


def _policy(effect: str, resource: str) -> str:
    statement = {"Effect": effect, "Action": "lambda:InvokeFunction", "Resource": resource}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _machine(cloud: Cloud, function: str, role_arn: str) -> str:
    definition = {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function, "Payload": {"n": 1}},
                "End": True,
            }
        },
    }
    return str(
        cloud.client("stepfunctions").create_state_machine(
            name=f"sm-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=role_arn
        )["stateMachineArn"]
    )


def _run(cloud: Cloud, machine: str) -> tuple[str, list[dict[str, Any]]]:
    """(status, the failed tasks' details) of one execution."""
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex, input="{}")[
        "executionArn"
    ]
    deadline = time.monotonic() + 20
    while (status := sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
        assert time.monotonic() < deadline, "execution did not finish"
        time.sleep(0.05)
    events = sfn.get_execution_history(executionArn=arn)["events"]
    return status, [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]


def test_the_task_fails_as_on_aws_until_the_role_allows_the_alias(cloud: Cloud) -> None:
    layer = RecordingLayer()
    cloud.control.attach_execution_layer(layer)
    try:
        fn = make_function(cloud)
        alias_arn = f"{fn.arn}:live"
        iam = cloud.client("iam")
        name = f"sm-role-{uuid.uuid4().hex[:8]}"
        role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        # the classic mistake: the unqualified ARN does not cover the alias
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=_policy("Allow", fn.arn))
        machine = _machine(cloud, alias_arn, role_arn)

        status, failures = _run(cloud, machine)
        assert status == "FAILED" and len(failures) == 1
        assert failures[0]["error"] == "Lambda.AWSLambdaException"
        found = CAUSE.search(failures[0]["cause"])
        assert found, failures[0]["cause"]
        assert failures[0]["cause"] == iam_policy.denial_cause(
            "implicit-deny",
            role_arn=role_arn,
            session=found["session"],
            action="lambda:InvokeFunction",
            resource=alias_arn,
            request_id=found["rid"],
        )
        assert (failures[0]["resource"], failures[0]["resourceType"]) == ("invoke", "lambda")
        assert layer.invocations == []  # the function never ran

        iam.put_role_policy(
            RoleName=name, PolicyName="p", PolicyDocument=_policy("Allow", f"{fn.arn}:*")
        )
        assert _run(cloud, machine) == ("SUCCEEDED", [])
        assert len(layer.invocations) == 1

        iam.put_role_policy(RoleName=name, PolicyName="d", PolicyDocument=_policy("Deny", "*"))
        status, failures = _run(cloud, machine)
        assert status == "FAILED"
        assert "with an explicit deny in an identity-based policy" in failures[0]["cause"]

        # a role the local cloud's IAM does not hold (moto accepts any role ARN) is not checked
        unknown = _machine(cloud, alias_arn, f"arn:aws:iam::{ACCOUNT}:role/not-created")
        assert _run(cloud, unknown) == ("SUCCEEDED", [])
    finally:
        cloud.control.attach_execution_layer(None)
