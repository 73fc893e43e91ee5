"""Small hand-built X-Ray traces with known answers, shaped like the local cloud's documents."""

from __future__ import annotations

from typing import Any

FUNCTION = "pclab-Function"
STATE_MACHINE = "pclab-StateMachine"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:live"


def step_functions_trace(
    trace_id: str = "1-5f000000-000000000000000000000001",
    *,
    start: float = 1000.0,
    cold: bool = True,
    init: float = 1.0,
    work: float = 0.5,
    function_error: bool = False,
    state_machine_fault: bool = False,
    throttled: bool = False,
    in_progress: bool = False,
) -> list[dict[str, Any]]:
    """A state machine (root) calling one Lambda function: 3 segments and a streamed subsegment.

    Times: the state machine runs [start, start + 0.1 + init + work + 0.1]; the AWS::Lambda
    segment [start + 0.1, start + 0.1 + init + work]; the function segment starts after init.
    """
    begin = start + 0.1
    service_end = begin + (init if cold else 0.0) + work
    function_start = begin + (init if cold else 0.0)
    root: dict[str, Any] = {
        "id": "a000000000000001",
        "trace_id": trace_id,
        "name": STATE_MACHINE,
        "origin": "AWS::StepFunctions::StateMachine",
        "start_time": start,
        "end_time": service_end + 0.1,
        "annotations": {"status": "FAILED" if state_machine_fault else "SUCCEEDED"},
    }
    if state_machine_fault:
        root["fault"] = True
    if in_progress:
        del root["end_time"]
        root["in_progress"] = True
    service: dict[str, Any] = {
        "id": "b000000000000001",
        "trace_id": trace_id,
        "parent_id": root["id"],
        "name": FUNCTION,
        "origin": "AWS::Lambda",
        "start_time": begin,
        "end_time": service_end,
        "http": {"response": {"status": 429 if throttled else 200}},
        "aws": {"request_id": "req-1"},
        "resource_arn": ARN,
    }
    subsegments = []
    if cold:
        subsegments.append(
            {
                "id": "d000000000000001",
                "name": "Initialization",
                "start_time": begin,
                "end_time": function_start,
            }
        )
    subsegments.append(
        {
            "id": "d000000000000002",
            "name": "Invocation",
            "start_time": function_start,
            "end_time": service_end,
        }
    )
    function: dict[str, Any] = {
        "id": "c000000000000001",
        "trace_id": trace_id,
        "parent_id": service["id"],
        "name": FUNCTION,
        "origin": "AWS::Lambda::Function",
        "start_time": function_start,
        "end_time": service_end,
        "aws": {"account_id": "123456789012", "function_arn": ARN},
        "subsegments": subsegments,
    }
    if function_error:
        function["error"] = True
    work_subsegment = {
        "type": "subsegment",
        "id": "e000000000000001",
        "trace_id": trace_id,
        "parent_id": "d000000000000002",
        "name": "work",
        "start_time": function_start + 0.01,
        "end_time": service_end - 0.01,
        "annotations": {"cold_start": cold, "attempt": 1},
    }
    return [root, service, function, work_subsegment]


def web_trace_with_dynamodb(status: int = 200, table_status: int = 200) -> list[dict[str, Any]]:
    """The developer guide's shape: a web service whose DynamoDB call X-Ray must infer."""
    return [
        {
            "id": "f000000000000001",
            "trace_id": "1-5f000000-000000000000000000000099",
            "name": "api.example.com",
            "origin": "AWS::EC2::Instance",
            "start_time": 2000.0,
            "end_time": 2003.232,
            "user": "alice",
            "http": {
                "request": {
                    "url": "http://api.example.com/api/v2/game",
                    "method": "POST",
                    "user_agent": "curl/8",
                    "client_ip": "192.0.2.1",
                },
                "response": {"status": status},
            },
            "subsegments": [
                {
                    "id": "f000000000000002",
                    "name": "DynamoDB",
                    "namespace": "aws",
                    "start_time": 2001.0,
                    "end_time": 2001.5,
                    "http": {"response": {"status": table_status}},
                    "aws": {"table_name": "scores", "operation": "UpdateItem"},
                }
            ],
        }
    ]
