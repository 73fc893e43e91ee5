"""The four source adapters on documents shaped as AWS documents them (hand-written here).

Shapes come from the AWS references: Step Functions ``HistoryEvent`` (API reference, with the
lambda:invoke output as recorded in public histories: ``ExecutedVersion``, ``Payload``,
``SdkHttpMetadata``, ``SdkResponseMetadata``), X-Ray segment documents (Lambda's ``AWS::Lambda`` /
``AWS::Lambda::Function`` segments, streamed subsegments), and CloudWatch Logs REPORT lines in the
text and JSON log formats, in FilterLogEvents replies and as plain exported lines.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from pclab.analysis.model import Source, SourceFormatError
from pclab.analysis.sources.execution_history import parse_execution_history
from pclab.analysis.sources.execution_output import parse_execution_output
from pclab.analysis.sources.logs import parse_logs
from pclab.analysis.sources.xray import parse_traces

REQ_A = "8f7c1a1e-5b1e-4f6e-9a57-1f2d3c4b5a61"
REQ_B = "0d2e9a77-3c4b-4a8e-8d11-7a6b5c4d3e22"
TRACE = "1-6951d70a-3f43124672de60387a603d5d"
XTRACE = "1-6930f000-0123456789abcdef01234567"
ALIAS = "arn:aws:lambda:us-east-1:123456789012:function:ProvisionedConcurrencyTestFunction:live"

# --- execution output -----------------------------------------------------------------------


def test_short_key_output_gives_handler_view_and_errors_keep_their_item() -> None:
    output = {
        "results": [
            {
                "id": 1,
                "req": REQ_A,
                "env": "env-1",
                "first": True,
                "initType": "on-demand",
                "initMs": 5003.1,
                "start": 1764000005.120,
                "end": 1764000008.121,
                "ver": "1",
            },
            {
                "id": 2,
                "req": REQ_B,
                "env": "env-1",
                "first": False,
                "initType": "on-demand",
                "initMs": 5003.1,
                "start": 1764000008.2,
                "end": 1764000011.2,
                "ver": "1",
            },
            {
                "id": 3,
                "error": {
                    "Error": "Lambda.TooManyRequestsException",
                    "Cause": "Rate Exceeded. (Service: AWSLambda; Status Code: 429; ...)",
                },
            },
        ]
    }
    first, warm, failed = parse_execution_output(output, state_machine="Base")
    assert (first.request_id, first.item_id, first.environment_id) == (REQ_A, "1", "env-1")
    assert first.first_invocation is True and first.init_duration_ms == pytest.approx(5003.1)
    assert first.handler_latency_s == pytest.approx(3.001)
    # the handler repeats its environment's init on warm calls: not an init of this call
    assert warm.first_invocation is False and warm.init_duration_ms is None
    assert failed.item_id == "3" and failed.error == "Lambda.TooManyRequestsException"
    assert failed.request_id is None
    assert all(inv.sources == {Source.EXECUTION_OUTPUT} for inv in (first, warm, failed))
    assert first.state_machine == "Base"


def test_describe_execution_reply_and_handler_error_cause() -> None:
    cause = json.dumps(
        {
            "errorMessage": "bad item",
            "errorType": "ValueError",
            "requestId": REQ_B,
            "stackTrace": [],
        }
    )
    reply = {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:Base:run-1",
        "status": "SUCCEEDED",
        "output": json.dumps(
            {"results": [{"id": 7, "error": {"Error": "ValueError", "Cause": cause}}]}
        ),
    }
    (inv,) = parse_execution_output(reply)
    assert (inv.item_id, inv.error, inv.request_id) == ("7", "ValueError", REQ_B)


def test_full_handler_results_are_read_too() -> None:
    full = {
        "requestId": REQ_A,
        "environmentId": "e1",
        "firstInvocation": True,
        "initializationType": "provisioned-concurrency",
        "initStartedAt": 1764000000.0,
        "initEndedAt": 1764000005.0,
        "initDurationMs": 5000.0,
        "sinceInitEndMs": 60000.0,
        "startedAt": 1764000065.0,
        "finishedAt": 1764000068.0,
        "workSeconds": 3.0,
        "functionName": "F",
        "functionVersion": "2",
        "item": {"id": 4},
    }
    (inv,) = parse_execution_output({"results": [full]})
    assert (inv.item_id, inv.init_type, inv.function_version) == (
        "4",
        "provisioned-concurrency",
        "2",
    )
    assert inv.init_end == 1764000005.0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not valid JSON"),
        ({"items": []}, '{"results": [...]}'),
        ({"results": [1]}, "results[0] is not an object"),
        ({"status": "FAILED", "output": None}, "no output (status FAILED)"),
    ],
)
def test_bad_execution_output_is_one_clear_error(document: Any, message: str) -> None:
    with pytest.raises(SourceFormatError, match=re.escape(message)):
        parse_execution_output(document)


# --- execution history ----------------------------------------------------------------------


def _invoke_output(request_id: str, payload: dict[str, Any]) -> str:
    headers = {
        "Content-Type": "application/json",
        "X-Amz-Executed-Version": "1",
        "x-amzn-RequestId": request_id,
        "X-Amzn-Trace-Id": f"Root={TRACE};Parent=4891daa21b62b07d;Sampled=1",
    }
    return json.dumps(
        {
            "ExecutedVersion": "1",
            "Payload": payload,
            "SdkHttpMetadata": {
                "AllHttpHeaders": {k: [v] for k, v in headers.items()},
                "HttpHeaders": headers,
                "HttpStatusCode": 200,
            },
            "SdkResponseMetadata": {"RequestId": request_id},
            "StatusCode": 200,
        }
    )


def _history(stamp: Any) -> dict[str, Any]:
    """Two Map iterations, interleaved as AWS records them: item 1 is throttled once and
    retried, item 2 fails in the handler and is caught."""
    params = lambda item: json.dumps({"FunctionName": ALIAS, "Payload": {"item": {"id": item}}})  # noqa: E731
    task = {"resourceType": "lambda", "resource": "invoke"}
    cause = json.dumps({"errorMessage": "boom", "errorType": "ValueError", "requestId": REQ_B})
    payload = {
        "requestId": REQ_A,
        "environmentId": "env-9",
        "firstInvocation": True,
        "initializationType": "on-demand",
        "initDurationMs": 5100.0,
        "startedAt": 1764000006.2,
        "finishedAt": 1764000009.2,
        "item": {"id": 1},
    }
    events = [
        (1, 0, 0.0, "ExecutionStarted", {"input": "{}", "roleArn": "arn:aws:iam::1:role/r"}),
        (2, 1, 0.01, "MapStateEntered", {"name": "InvokeForEachItem", "input": "{}"}),
        (3, 2, 0.02, "MapStateStarted", {"length": 2}),
        (4, 3, 0.03, "MapIterationStarted", {"name": "InvokeForEachItem", "index": 0}),
        (5, 3, 0.03, "MapIterationStarted", {"name": "InvokeForEachItem", "index": 1}),
        (6, 4, 0.04, "TaskStateEntered", {"name": "InvokeFunction", "input": '{"item":{"id":1}}'}),
        (7, 5, 0.04, "TaskStateEntered", {"name": "InvokeFunction", "input": '{"item":{"id":2}}'}),
        (8, 6, 0.05, "TaskScheduled", {**task, "region": "us-east-1", "parameters": params(1)}),
        (9, 7, 0.05, "TaskScheduled", {**task, "region": "us-east-1", "parameters": params(2)}),
        (10, 8, 0.06, "TaskStarted", task),
        (11, 9, 0.06, "TaskStarted", task),
        (
            12,
            10,
            0.09,
            "TaskFailed",
            {
                **task,
                "error": "Lambda.TooManyRequestsException",
                "cause": "Rate Exceeded. (Service: AWSLambda; Status Code: 429)",
            },
        ),
        (13, 12, 1.10, "TaskScheduled", {**task, "region": "us-east-1", "parameters": params(1)}),
        (14, 13, 1.11, "TaskStarted", task),
        (15, 11, 3.20, "TaskFailed", {**task, "error": "ValueError", "cause": cause}),
        (16, 15, 3.21, "TaskStateExited", {"name": "InvokeFunction", "output": "{}"}),
        (17, 16, 3.22, "PassStateEntered", {"name": "RecordFailure", "input": "{}"}),
        (18, 14, 9.30, "TaskSucceeded", {**task, "output": _invoke_output(REQ_A, payload)}),
    ]
    return {
        "events": [
            {
                "id": event_id,
                "previousEventId": previous,
                "timestamp": stamp(1764000000.0 + offset),
                "type": kind,
                kind[0].lower() + kind[1:] + "EventDetails": details,
            }
            for event_id, previous, offset, kind, details in events
        ]
    }


@pytest.mark.parametrize(
    "stamp",
    [
        lambda t: t,  # wire format / AWS CLI v1: epoch seconds
        lambda t: datetime.fromtimestamp(t, UTC).isoformat(),  # AWS CLI v2: ISO 8601
        lambda t: datetime.fromtimestamp(t, UTC),  # boto3: datetime
    ],
    ids=["epoch", "iso", "datetime"],
)
def test_history_attributes_interleaved_events_retries_and_throttles(stamp: Any) -> None:
    calls = {
        inv.item_id: inv for inv in parse_execution_history(_history(stamp), state_machine="PC")
    }
    retried, failed = calls["1"], calls["2"]
    assert (retried.retries, retried.throttles, retried.error) == (1, 1, None)
    assert retried.request_id == REQ_A and retried.iteration == 0
    assert retried.scheduled_at == pytest.approx(1764000000.05)
    # the caller's view is the attempt that reached the function
    assert retried.caller_latency_s == pytest.approx(9.30 - 1.11)
    assert (retried.function_name, retried.qualifier) == (
        "ProvisionedConcurrencyTestFunction",
        "live",
    )
    assert retried.function_version == "1" and retried.trace_id == TRACE
    # the handler's result rides along in the Invoke payload
    assert (retried.environment_id, retried.first_invocation) == ("env-9", True)
    assert (failed.retries, failed.throttles, failed.error) == (0, 0, "ValueError")
    assert failed.request_id == REQ_B and failed.iteration == 1
    assert retried.sources == {Source.EXECUTION_HISTORY} and retried.state_machine == "PC"


def test_history_pages_and_legacy_lambda_resource() -> None:
    events = [
        {
            "id": 1,
            "previousEventId": 0,
            "timestamp": 1764000000.0,
            "type": "ExecutionStarted",
            "executionStartedEventDetails": {"input": "{}"},
        },
        {
            "id": 2,
            "previousEventId": 1,
            "timestamp": 1764000000.1,
            "type": "TaskStateEntered",
            "stateEnteredEventDetails": {"name": "Call", "input": "{}"},
        },
        {
            "id": 3,
            "previousEventId": 2,
            "timestamp": 1764000000.2,
            "type": "LambdaFunctionScheduled",
            "lambdaFunctionScheduledEventDetails": {"resource": ALIAS, "input": '{"id": 5}'},
        },
        {"id": 4, "previousEventId": 3, "timestamp": 1764000000.3, "type": "LambdaFunctionStarted"},
        {
            "id": 5,
            "previousEventId": 4,
            "timestamp": 1764000003.3,
            "type": "LambdaFunctionSucceeded",
            "lambdaFunctionSucceededEventDetails": {
                "output": json.dumps(
                    {"requestId": REQ_A, "environmentId": "e", "firstInvocation": False}
                )
            },
        },
    ]
    (inv,) = parse_execution_history([{"events": events[:3]}, {"events": events[3:]}])
    assert (inv.item_id, inv.request_id, inv.qualifier) == ("5", REQ_A, "live")
    assert inv.caller_latency_s == pytest.approx(3.0)
    assert inv.first_invocation is False


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "not valid JSON"),
        ({"Traces": []}, "GetExecutionHistory"),
        ({"events": [{"timestamp": 1}]}, "no 'type' or 'id'"),
    ],
)
def test_bad_history_is_one_clear_error(document: Any, message: str) -> None:
    with pytest.raises(SourceFormatError, match=message):
        parse_execution_history(document)


# --- X-Ray ----------------------------------------------------------------------------------


def _trace(cold: bool, *, streamed: bool, request_id: str = REQ_A) -> dict[str, Any]:
    t0 = 1764000000.0
    lam = {
        "id": "1a2b3c4d5e6f7a8b",
        "name": "ProvisionedConcurrencyTestFunction",
        "start_time": t0,
        "end_time": t0 + (8.3 if cold else 3.05),
        "parent_id": "aaaaaaaaaaaaaaaa",
        "trace_id": "1-6930f000-0123456789abcdef01234567",
        "origin": "AWS::Lambda",
        "http": {"response": {"status": 200}},
        "aws": {"request_id": request_id},
        "resource_arn": ALIAS,
    }
    begin = t0 + (5.2 if cold else 0.02)
    subsegments: list[dict[str, Any]] = []
    if cold:
        subsegments.append(
            {
                "id": "1111111111111111",
                "name": "Initialization",
                "start_time": t0 + 0.05,
                "end_time": t0 + 5.19,
                "aws": {"function_arn": ALIAS},
            }
        )
    invocation = {
        "id": "2222222222222222",
        "name": "Invocation",
        "start_time": begin,
        "end_time": begin + 3.0,
        "aws": {"function_arn": ALIAS},
    }
    work = {
        "id": "3333333333333333",
        "name": "work",
        "start_time": begin + 0.001,
        "end_time": begin + 2.999,
        "annotations": {"cold_start": cold},
    }
    if not streamed:
        invocation["subsegments"] = [work]
    subsegments += [
        invocation,
        {
            "id": "4444444444444444",
            "name": "Overhead",
            "start_time": begin + 3.0,
            "end_time": begin + 3.002,
        },
    ]
    fn = {
        "id": "5555555555555555",
        "name": "ProvisionedConcurrencyTestFunction",
        "start_time": begin - 0.001,
        "end_time": begin + 3.002,
        "parent_id": lam["id"],
        "trace_id": lam["trace_id"],
        "origin": "AWS::Lambda::Function",
        "aws": {"function_arn": ALIAS},
        "subsegments": subsegments,
    }
    documents = [lam, fn]
    if streamed:
        documents.append(
            {
                **work,
                "type": "subsegment",
                "parent_id": "2222222222222222",
                "trace_id": lam["trace_id"],
            }
        )
    return {
        "Id": lam["trace_id"],
        "Duration": 8.3,
        "Segments": [{"Id": d["id"], "Document": json.dumps(d)} for d in documents],
    }


def test_cold_trace_gives_initialization_and_the_callers_view() -> None:
    (inv,) = parse_traces({"Traces": [_trace(True, streamed=True)], "UnprocessedTraceIds": []})
    assert inv.request_id == REQ_A and inv.trace_id == "1-6930f000-0123456789abcdef01234567"
    assert inv.xray_initialization is True
    assert inv.init_duration_ms == pytest.approx(5140.0)
    assert inv.caller_latency_s == pytest.approx(8.3)
    assert inv.handler_latency_s == pytest.approx(3.0)
    assert (inv.function_name, inv.qualifier) == ("ProvisionedConcurrencyTestFunction", "live")
    assert inv.first_invocation is True  # the handler's streamed cold_start annotation


def test_warm_trace_has_no_initialization_and_embedded_annotation_is_read() -> None:
    (inv,) = parse_traces([{"Traces": [_trace(False, streamed=False)]}])  # a list of pages
    assert inv.xray_initialization is False and inv.init_start is None
    assert inv.first_invocation is False
    assert inv.caller_latency_s == pytest.approx(3.05)


def test_newer_trace_with_only_annotations_and_a_throttled_call() -> None:
    fn = {
        "id": "6666666666666666",
        "name": "F",
        "start_time": 10.0,
        "end_time": 13.0,
        "parent_id": "7777777777777777",
        "origin": "AWS::Lambda::Function",
        "annotations": {"aws:responseLatency": 3000.5, "aws:runtimeOverhead": 1.2},
    }
    lam = {
        "id": "7777777777777777",
        "name": "F",
        "start_time": 9.99,
        "end_time": 13.01,
        "origin": "AWS::Lambda",
        "aws": {"request_id": REQ_B},
    }
    throttled = {
        "id": "8888888888888888",
        "name": "F",
        "start_time": 9.0,
        "end_time": 9.01,
        "origin": "AWS::Lambda",
        "throttle": True,
        "error": True,
        "http": {"response": {"status": 429}},
        "aws": {"request_id": "t"},
    }
    trace = {
        "Id": "1-00000000-000000000000000000000000",
        "Segments": [{"Id": d["id"], "Document": json.dumps(d)} for d in (fn, lam, throttled)],
    }
    (inv,) = parse_traces({"Traces": [trace]})
    assert inv.request_id == REQ_B and inv.xray_initialization is False
    assert inv.handler_latency_s == pytest.approx(3.0)  # no Invocation subsegment: the segment
    assert inv.function_name == "F"


def test_bad_trace_document_names_the_trace() -> None:
    trace = {"Id": "1-abc", "Segments": [{"Id": "x", "Document": "{not json"}]}
    with pytest.raises(SourceFormatError, match="trace 1-abc segment 0 Document is not valid JSON"):
        parse_traces({"Traces": [trace]})
    with pytest.raises(SourceFormatError, match="BatchGetTraces"):
        parse_traces({"events": []})


# --- CloudWatch Logs ------------------------------------------------------------------------

COLD_REPORT = (
    f"REPORT RequestId: {REQ_A}\tDuration: 3001.02 ms\tBilled Duration: 8208 ms\t"
    "Memory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 5206.12 ms\t\n"
    f"XRAY TraceId: {XTRACE}\tSegmentId: 1a2b3c4d5e6f7a8b\tSampled: true\t\n"
)
WARM_REPORT = (
    f"REPORT RequestId: {REQ_B}\tDuration: 3000.51 ms\tBilled Duration: 3001 ms\t"
    "Memory Size: 128 MB\tMax Memory Used: 41 MB\t\n"
)


def test_filter_log_events_text_format_with_and_without_init_duration() -> None:
    stream = "2025/11/24/[1]0123456789abcdef0123456789abcdef"
    reply = {
        "events": [
            {
                "logStreamName": stream,
                "timestamp": 1764000000100,
                "message": f"START RequestId: {REQ_A} Version: 1\n",
                "ingestionTime": 1764000000500,
                "eventId": "1",
            },
            {
                "logStreamName": stream,
                "timestamp": 1764000008300,
                "message": COLD_REPORT,
                "ingestionTime": 1764000008800,
                "eventId": "2",
            },
            {
                "logStreamName": stream,
                "timestamp": 1764000011400,
                "message": WARM_REPORT,
                "ingestionTime": 1764000011900,
                "eventId": "3",
            },
        ],
        "searchedLogStreams": [],
    }
    cold, warm = sorted(parse_logs(reply), key=lambda inv: inv.reported_at or 0)
    assert (cold.request_id, cold.duration_ms, cold.billed_duration_ms) == (REQ_A, 3001.02, 8208)
    assert (cold.memory_mb, cold.max_memory_used_mb, cold.init_duration_ms) == (128, 40, 5206.12)
    assert cold.trace_id == "1-6930f000-0123456789abcdef01234567"
    assert cold.log_stream == stream and cold.function_version == "1"
    assert cold.reported_at == pytest.approx(1764000008.3)
    assert warm.init_duration_ms is None and warm.billed_duration_ms == 3001
    assert warm.sources == {Source.LOGS}


def test_plain_exported_lines_with_prefix_and_xray_on_next_line() -> None:
    text = (
        f"2025-11-24T16:00:08.300000+00:00 2025/11/24/[$LATEST]abcdef0123 {COLD_REPORT}"
        "2025-11-24T16:00:09.000000+00:00 2025/11/24/[$LATEST]abcdef0123 some handler output\n"
        f"{WARM_REPORT}"
    )
    cold, warm = parse_logs(text)
    assert cold.init_duration_ms == 5206.12 and cold.log_stream == "2025/11/24/[$LATEST]abcdef0123"
    assert cold.function_version == "$LATEST"
    assert cold.trace_id == "1-6930f000-0123456789abcdef01234567"
    assert cold.reported_at == pytest.approx(
        datetime(2025, 11, 24, 16, 0, 8, 300000, UTC).timestamp()
    )
    assert warm.request_id == REQ_B and warm.log_stream is None


def test_json_log_format_records_and_init_type_per_stream() -> None:
    stream = "2025/11/24/live[2]feedface"
    records = [
        {
            "time": "2025-11-24T15:00:00.000Z",
            "type": "platform.initStart",
            "record": {
                "initializationType": "provisioned-concurrency",
                "phase": "init",
                "runtimeVersion": "python:3.11.v60",
                "functionName": "PCFn",
                "functionVersion": "2",
            },
        },
        {
            "time": "2025-11-24T16:00:00.000Z",
            "type": "platform.start",
            "record": {"requestId": REQ_A, "version": "2"},
        },
        {
            "time": "2025-11-24T16:00:03.010Z",
            "type": "platform.report",
            "record": {
                "requestId": REQ_A,
                "status": "success",
                "metrics": {
                    "durationMs": 3000.8,
                    "billedDurationMs": 3001,
                    "memorySizeMB": 128,
                    "maxMemoryUsedMB": 45,
                },
                "tracing": {
                    "spanId": "1a2b",
                    "type": "X-Amzn-Trace-Id",
                    "value": f"Root={XTRACE};Parent=1a2b;Sampled=1",
                },
            },
        },
    ]
    events = {
        "events": [
            {"logStreamName": stream, "timestamp": 1, "message": json.dumps(r)} for r in records
        ]
    }
    (inv,) = parse_logs(events)
    assert (inv.duration_ms, inv.billed_duration_ms, inv.max_memory_used_mb) == (3000.8, 3001, 45)
    assert inv.init_type == "provisioned-concurrency" and inv.function_name == "PCFn"
    assert inv.function_version == "2" and inv.init_duration_ms is None
    assert inv.trace_id == "1-6930f000-0123456789abcdef01234567"
    # the same records as JSON lines (one per line) and with an Init Duration
    records[2]["record"]["metrics"]["initDurationMs"] = 5150.2  # type: ignore[index]
    (from_lines,) = parse_logs("\n".join(json.dumps(r) for r in records))
    assert from_lines.init_duration_ms == 5150.2


def test_snapstart_restore_duration_counts_as_init() -> None:
    line = (
        f"REPORT RequestId: {REQ_A}\tDuration: 12.40 ms\tBilled Duration: 286 ms\t"
        "Memory Size: 512 MB\tMax Memory Used: 90 MB\tRestore Duration: 260.00 ms\t"
        "Billed Restore Duration: 273 ms"
    )
    (inv,) = parse_logs(line)
    assert inv.init_duration_ms == 260.0 and inv.duration_ms == 12.4 and inv.memory_mb == 512


def test_logs_without_report_lines_are_empty_but_not_an_error() -> None:
    assert parse_logs("INIT_START Runtime Version: python:3.11.v60\nhello\n") == []
    assert parse_logs({"events": []}) == []
    with pytest.raises(SourceFormatError, match="FilterLogEvents"):
        parse_logs({"Traces": []})
    with pytest.raises(SourceFormatError, match="no 'message'"):
        parse_logs({"events": [{"timestamp": 1}]})


def test_non_finite_numbers_are_read_as_absent() -> None:
    """Python's json accepts NaN and Infinity; report.json (strict JSON) must never see them."""
    trace = _trace(False, streamed=False)
    for segment in trace["Segments"]:
        segment["Document"] = segment["Document"].replace(
            '"start_time": 1764000000.0,', '"start_time": NaN,'
        )
    (inv,) = parse_traces(json.dumps({"Traces": [trace]}))
    assert inv.started_at is None and inv.caller_latency_s is None
    (out,) = parse_execution_output(
        '{"results": [{"id": 1, "req": "r", "start": Infinity, "end": 5}]}'
    )
    assert out.handler_start is None and out.handler_end == 5.0


def test_history_timeouts_and_non_lambda_tasks() -> None:
    def event(i: int, prev: int, kind: str, **details: Any) -> dict[str, Any]:
        key = kind[0].lower() + kind[1:] + "EventDetails"
        return {
            "id": i,
            "previousEventId": prev,
            "timestamp": 100.0 + i,
            "type": kind,
            key: details,
        }

    lambda_task = {"resourceType": "lambda", "resource": "invoke"}
    sns_task = {"resourceType": "sns", "resource": "publish"}
    events = [
        event(1, 0, "TaskStateEntered", name="Call", input='{"item": {"id": 3}}'),
        event(2, 1, "TaskScheduled", parameters=json.dumps({"FunctionName": ALIAS}), **lambda_task),
        event(3, 2, "TaskStarted", **lambda_task),
        event(4, 3, "TaskTimedOut", **lambda_task),  # no error given: States.Timeout
        event(5, 4, "TaskStateEntered", name="Notify", input="{}"),
        event(6, 5, "TaskScheduled", parameters="{}", **sns_task),
        event(7, 6, "TaskSucceeded", output="{}", **sns_task),
    ]
    (inv,) = parse_execution_history({"events": events})
    assert (inv.item_id, inv.error, inv.caller_latency_s) == ("3", "States.Timeout", 1.0)
