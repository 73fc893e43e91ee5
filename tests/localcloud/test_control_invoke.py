"""Every Lambda call goes through the invocation seam and comes back the way AWS shows it.

Callers: the Invoke API (headers, status codes) and the Step Functions interpreter's Lambda task
(``Lambda.TooManyRequestsException`` that a Retry handles, function errors, the execution's trace).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.cloud_helpers import (
    Cloud,
    RecordingLayer,
    error_of,
    json_payload,
    make_function,
    throttle,
)
from pclab.localcloud.invocation import InvokeRequest, InvokeResult
from pclab.localcloud.lambda_control import NO_EXECUTION_LAYER

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def layer(cloud: Cloud) -> Iterator[RecordingLayer]:
    recording = RecordingLayer()
    cloud.control.attach_execution_layer(recording)
    try:
        yield recording
    finally:
        cloud.control.attach_execution_layer(None)


def test_without_execution_layer_invoke_fails_clearly(cloud: Cloud) -> None:
    fn = make_function(cloud)
    status, code, message = error_of(
        lambda: cloud.client("lambda").invoke(FunctionName=fn.name, Qualifier="live", Payload=b"{}")
    )
    assert (status, code, message) == (500, "ServiceException", NO_EXECUTION_LAYER)


def test_invoke_resolves_alias_and_passes_pc_pool_and_trace(
    cloud: Cloud, layer: RecordingLayer
) -> None:
    fn = make_function(cloud)
    lam = cloud.client("lambda")
    lam.put_provisioned_concurrency_config(
        FunctionName=fn.name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    spec, count = layer.provisioned[(fn.name, "live")]
    assert (spec.version, count) == (fn.version, 2)

    def trace_header_hook(request: Any, **kwargs: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = "Root=1-00000000-aaaaaaaaaaaaaaaaaaaaaaaa;Sampled=1"

    lam.meta.events.register("before-sign.lambda.Invoke", trace_header_hook)
    via_alias = lam.invoke(FunctionName=f"{fn.arn}:live", Payload=b'{"n": 1}')
    via_latest = lam.invoke(FunctionName=fn.name, Payload=b'{"n": 2}')
    assert json_payload(via_alias) == {"n": 1}
    assert via_alias["ExecutedVersion"] == fn.version
    assert via_latest["ExecutedVersion"] == "$LATEST"
    first, second = layer.invocations
    assert (first.provisioned_qualifier, second.provisioned_qualifier) == ("live", None)
    assert first.spec.version == fn.version and second.spec.version == "$LATEST"
    assert first.trace_header == "Root=1-00000000-aaaaaaaaaaaaaaaaaaaaaaaa;Sampled=1"


def test_invoke_returns_lambdas_headers(cloud: Cloud, layer: RecordingLayer) -> None:
    fn = make_function(cloud)
    lam = cloud.client("lambda")
    error_doc = {"errorType": "RuntimeError", "errorMessage": "boom"}
    tail = base64.b64encode(b"START RequestId: x\nboom\n").decode()
    layer.answers.append(
        InvokeResult(200, json.dumps(error_doc).encode(), "1", "Unhandled", tail, "req-1")
    )
    failed = lam.invoke(FunctionName=fn.name, Qualifier="live", LogType="Tail")
    assert failed["StatusCode"] == 200
    assert failed["FunctionError"] == "Unhandled"
    assert failed["LogResult"] == tail
    assert failed["ResponseMetadata"]["RequestId"] == "req-1"
    assert json_payload(failed) == error_doc
    assert layer.invocations[-1].log_type == "Tail"

    layer.answers.append(InvokeResult(200, b"{}", "1", None, tail))
    plain = lam.invoke(FunctionName=fn.name, Qualifier="live")
    assert "LogResult" not in plain and "FunctionError" not in plain

    layer.answers.append(InvokeResult(202, b"", "1"))
    queued = lam.invoke(FunctionName=fn.name, Qualifier="live", InvocationType="Event")
    assert queued["StatusCode"] == 202
    assert layer.invocations[-1].invocation_type == "Event"

    dry = lam.invoke(FunctionName=fn.name, Qualifier="live", InvocationType="DryRun")
    assert dry["StatusCode"] == 204


def test_invoke_without_payload_hands_the_handler_an_empty_object(
    cloud: Cloud, layer: RecordingLayer
) -> None:
    """AWS gives the handler {} (the runtime client fails an empty body: Runtime.UnmarshalError)."""
    fn = make_function(cloud)
    lam = cloud.client("lambda")
    lam.invoke(FunctionName=fn.name, Qualifier="live")
    lam.invoke(FunctionName=fn.name, Qualifier="live", Payload=b"")
    lam.invoke(FunctionName=fn.name, Qualifier="live", Payload=b"[1]")
    assert [r.payload for r in layer.invocations] == [b"{}", b"{}", b"[1]"]


def test_throttle_is_429_with_reason(cloud: Cloud, layer: RecordingLayer) -> None:
    fn = make_function(cloud)
    layer.answers.append(throttle())
    lam = cloud.client("lambda")
    with pytest.raises(lam.exceptions.TooManyRequestsException) as caught:
        lam.invoke(FunctionName=fn.name, Qualifier="live")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_unknown_qualifier_is_not_found(cloud: Cloud, layer: RecordingLayer) -> None:
    fn = make_function(cloud)
    status, code, message = error_of(
        lambda: cloud.client("lambda").invoke(FunctionName=fn.name, Qualifier="nope")
    )
    assert (status, code, message) == (
        404,
        "ResourceNotFoundException",
        f"Function not found: {fn.arn}:nope",
    )
    assert layer.invocations == []


def _state_machine(cloud: Cloud, alias_arn: str, *, traced: bool) -> str:
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": alias_arn, "Payload": {"item.$": "$.item"}},
                "ResultSelector": {"out.$": "$.Payload", "ver.$": "$.ExecutedVersion"},
                "Retry": [
                    {
                        "ErrorEquals": ["Lambda.TooManyRequestsException"],
                        "IntervalSeconds": 1,
                        "BackoffRate": 1,
                        "MaxAttempts": 3,
                    }
                ],
                "End": True,
            }
        },
    }
    role = f"arn:aws:iam::123456789012:role/sm-{uuid.uuid4().hex[:8]}"
    return str(
        cloud.client("stepfunctions").create_state_machine(
            name=f"sm-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(definition),
            roleArn=role,
            tracingConfiguration={"enabled": traced},
        )["stateMachineArn"]
    )


def _run(cloud: Cloud, machine: str, item: Any) -> dict[str, Any]:
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=machine, name=uuid.uuid4().hex, input=json.dumps({"item": item})
    )["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.1)
    raise AssertionError("execution did not finish")


def test_state_machine_retries_a_throttle_and_traces_the_execution(
    cloud: Cloud, layer: RecordingLayer
) -> None:
    fn = make_function(cloud)
    machine = _state_machine(cloud, f"{fn.arn}:live", traced=True)
    layer.answers.append(throttle())
    done = _run(cloud, machine, {"id": 7})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"out": {"item": {"id": 7}}, "ver": fn.version}
    assert len(layer.invocations) == 2  # the throttled call, then the retry
    root = done["traceHeader"].split(";")[0]
    assert root.startswith("Root=1-")
    for request in layer.invocations:
        header = request.trace_header or ""
        assert header.startswith(root + ";Parent=") and header.endswith(";Sampled=1")
    # the execution itself is a segment of that trace: the Lambda calls' parent
    parent = (layer.invocations[0].trace_header or "").split("Parent=")[1].split(";")[0]
    documents: list[dict[str, Any]] = []
    deadline = time.monotonic() + 5  # as on AWS, a trace is complete a moment after the fact
    while not documents and time.monotonic() < deadline:
        xray = cloud.client("xray")
        traces = xray.batch_get_traces(TraceIds=[root.removeprefix("Root=")])["Traces"]
        documents = [json.loads(s["Document"]) for t in traces for s in t["Segments"]]
        time.sleep(0.05)
    assert [(d["id"], d["origin"]) for d in documents] == [
        (parent, "AWS::StepFunctions::StateMachine")
    ]


def test_untraced_state_machine_sends_no_trace(cloud: Cloud, layer: RecordingLayer) -> None:
    fn = make_function(cloud)
    machine = _state_machine(cloud, f"{fn.arn}:live", traced=False)
    done = _run(cloud, machine, {"id": 1})
    assert done["status"] == "SUCCEEDED"
    assert "traceHeader" not in done
    assert layer.invocations[0].trace_header is None


def test_throttles_beyond_retry_fail_as_lambda_too_many_requests(
    cloud: Cloud, layer: RecordingLayer
) -> None:
    fn = make_function(cloud)
    machine = _state_machine(cloud, f"{fn.arn}:live", traced=False)
    layer.answers.extend([throttle() for _ in range(4)])
    done = _run(cloud, machine, {"id": 1})
    assert (done["status"], done["error"]) == ("FAILED", "Lambda.TooManyRequestsException")
    assert "Rate Exceeded." in done["cause"]
    assert len(layer.invocations) == 4


def test_function_error_fails_the_task_with_its_error_type(
    cloud: Cloud, layer: RecordingLayer
) -> None:
    fn = make_function(cloud)
    machine = _state_machine(cloud, f"{fn.arn}:live", traced=False)
    error_doc = {"errorType": "ValueError", "errorMessage": "bad item"}
    layer.answers.append(InvokeResult(200, json.dumps(error_doc).encode(), "1", "Unhandled"))
    done = _run(cloud, machine, {"id": 1})
    assert (done["status"], done["error"]) == ("FAILED", "ValueError")
    assert json.loads(done["cause"]) == error_doc


def handler_like(request: InvokeRequest) -> InvokeResult:
    """The sample handler's result shape (functions/concurrencytest.py), for the real definition."""
    event = json.loads(request.payload)
    now = time.time()
    result = {
        "requestId": str(uuid.uuid4()),
        "environmentId": "env-1",
        "firstInvocation": False,
        "initializationType": "on-demand",
        "initDurationMs": 1.0,
        "startedAt": now,
        "finishedAt": now,
        "functionVersion": request.spec.version,
        "item": event["item"],
    }
    return InvokeResult(200, json.dumps(result).encode(), request.spec.version)


@pytest.mark.parametrize("load_mode", ["INLINE", "DISTRIBUTED"])
def test_the_sample_definition_runs_through_the_seam_in_one_trace(
    cloud: Cloud, layer: RecordingLayer, load_mode: str
) -> None:
    fn = make_function(cloud)
    layer.respond = handler_like
    text = (REPO / "statemachine" / "concurrency_test_state_machine.asl.json").read_text()
    for key, value in {
        "FunctionAliasArn": f"{fn.arn}:live",
        "MapMaxConcurrency": "0",
        "LoadMode": load_mode,
    }.items():
        text = text.replace("${" + key + "}", value)
    sfn = cloud.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"sample-{uuid.uuid4().hex[:8]}",
        definition=text,
        roleArn="arn:aws:iam::123456789012:role/sample",
        tracingConfiguration={"enabled": True},
    )["stateMachineArn"]
    assert sfn.describe_state_machine(stateMachineArn=machine)["definition"] == text
    arn = sfn.start_execution(
        stateMachineArn=machine,
        name=uuid.uuid4().hex,
        input=json.dumps({"items": [{"id": 1}, {"id": 2}, {"id": 3}]}),
    )["executionArn"]
    deadline = time.monotonic() + 30
    while (done := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert done["status"] == "SUCCEEDED", done
    results = json.loads(done["output"])["results"]
    assert [(r["id"], r["env"], r["ver"]) for r in results] == [
        (i, "env-1", fn.version) for i in (1, 2, 3)
    ]
    root = done["traceHeader"].split(";")[0]
    assert len(layer.invocations) == 3
    assert {(r.trace_header or "").split(";")[0] for r in layer.invocations} == {root}
    assert {r.provisioned_qualifier for r in layer.invocations} == {None}


def test_a_function_gets_the_local_cloud_and_its_roles_session(
    cloud: Cloud, layer: RecordingLayer
) -> None:
    fn = make_function(cloud)
    cloud.client("lambda").invoke(FunctionName=fn.name, Qualifier="live", Payload=b"{}")
    given = layer.invocations[-1].spec.service_environment
    assert given["AWS_ENDPOINT_URL"] == cloud.url
    # the credentials are a session of the function's execution role, as Lambda hands them
    sts = boto3.client(
        "sts",
        endpoint_url=given["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=given["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=given["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=given["AWS_SESSION_TOKEN"],
    )
    identity = sts.get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::123456789012:assumed-role/role-{fn.name}/{fn.name}"
    # the next environment of the function gets the same session, not a new AssumeRole each time
    cloud.client("lambda").invoke(FunctionName=fn.name, Qualifier="live", Payload=b"{}")
    assert layer.invocations[-1].spec.service_environment == given
