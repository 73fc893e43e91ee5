"""A simulated run of the sample, written out as the four AWS documents the analysis reads.

Used by the statistics tests, the report tests and the benchmark, where hand-written documents
would be too small. The simulation follows the sample's physics (an inline Map of at most 40
iterations, environments reused one call at a time, on-demand inits before the first call, PC
environments initialised before the run) and the documents follow AWS's documented shapes:
GetExecutionHistory events with ``previousEventId`` chains and ISO timestamps (AWS CLI v2),
BatchGetTraces with JSON-string segment documents and streamed subsegments, FilterLogEvents with
text-format START/END/REPORT lines, and the state machine's short-key output. The hand-written
fixtures in the adapter tests check each shape on its own.
"""

from __future__ import annotations

import heapq
import json
import random
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class Call:
    item: int
    request_id: str
    env: str
    env_index: int
    first: bool
    init_type: str
    init_start: float
    init_end: float
    scheduled: float
    started: float
    handler_start: float
    handler_end: float
    ended: float
    throttles: int = 0
    throttle_times: list[tuple[float, float]] = field(default_factory=list)
    error: str | None = None


@dataclass
class SimulatedRun:
    state_machine: str
    function: str
    alias: str
    version: str
    calls: list[Call]
    execution_arn: str
    trace_id: str
    start: float
    end: float
    memory_mb: int

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function}"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds")


def simulate(
    items: int,
    *,
    provisioned: int = 0,
    state_machine: str = "BaseConcurrencyTestStateMachine",
    function: str = "BaseConcurrencyTestFunction",
    init_seconds: float = 5.0,
    work_seconds: float = 3.0,
    map_limit: int = 40,
    start: float = 1_764_000_000.0,
    throttle_every: int = 0,
    fail_items: tuple[int, ...] = (),
    seed: int | None = None,
) -> SimulatedRun:
    """Simulate one execution: ``items`` calls through an inline Map of ``map_limit`` slots."""
    # distinct runs get distinct request ids unless a seed says otherwise
    rng = random.Random(
        seed if seed is not None else zlib.crc32(f"{state_machine}{start}".encode())
    )
    trace_id = f"1-{int(start):08x}-{rng.getrandbits(96):024x}"
    free: list[tuple[float, int]] = []  # (free from, env index) of warm environments
    env_ids: list[str] = []
    env_init: list[tuple[float, float, str]] = []
    for _ in range(provisioned):
        init_end = start - 60.0 - rng.random()
        env_init.append((init_end - init_seconds, init_end, "provisioned-concurrency"))
        env_ids.append(uuid.UUID(int=rng.getrandbits(128)).hex[:12])
        heapq.heappush(free, (init_end, len(env_ids) - 1))
    slots = [start + 0.05] * min(map_limit, items)
    heapq.heapify(slots)
    calls: list[Call] = []
    used: set[int] = set()
    for item in range(1, items + 1):
        scheduled = heapq.heappop(slots) + rng.uniform(0.005, 0.02)
        throttles = 0
        throttle_times: list[tuple[float, float]] = []
        started = scheduled + 0.01
        if throttle_every and item % throttle_every == 0:
            throttles = 1
            throttle_times.append((scheduled, scheduled + 0.03))
            started = scheduled + 1.0 + rng.uniform(0.0, 0.2)
        arrive = started + 0.005
        if free and free[0][0] <= arrive:
            _, env = heapq.heappop(free)
            first = env not in used
            handler_start = arrive + rng.uniform(0.001, 0.004)
        else:
            env_ids.append(uuid.UUID(int=rng.getrandbits(128)).hex[:12])
            env = len(env_ids) - 1
            init_start = arrive + 0.02
            init_end = init_start + init_seconds + rng.uniform(0.05, 0.25)
            env_init.append((init_start, init_end, "on-demand"))
            first = True
            handler_start = init_end + 0.002
        used.add(env)
        handler_end = handler_start + work_seconds + rng.uniform(0.0005, 0.003)
        ended = handler_end + rng.uniform(0.01, 0.04)
        heapq.heappush(free, (handler_end + 0.001, env))
        heapq.heappush(slots, ended + 0.01)
        init_start_v, init_end_v, init_type = env_init[env]
        calls.append(
            Call(
                item=item,
                request_id=str(uuid.UUID(int=rng.getrandbits(128))),
                env=env_ids[env],
                env_index=env,
                first=first,
                init_type=init_type,
                init_start=init_start_v,
                init_end=init_end_v,
                scheduled=scheduled,
                started=started,
                handler_start=handler_start,
                handler_end=handler_end,
                ended=ended,
                throttles=throttles,
                throttle_times=throttle_times,
                error="ValueError" if item in fail_items else None,
            )
        )
    end = max(c.ended for c in calls) + 0.1
    return SimulatedRun(
        state_machine=state_machine,
        function=function,
        alias="live",
        version="1",
        calls=calls,
        execution_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{state_machine}:run-1",
        trace_id=trace_id,
        start=start,
        end=end,
        memory_mb=128,
    )


def _handler_result(run: SimulatedRun, call: Call) -> dict[str, Any]:
    return {
        "requestId": call.request_id,
        "environmentId": call.env,
        "firstInvocation": call.first,
        "initializationType": call.init_type,
        "initStartedAt": round(call.init_start, 3),
        "initEndedAt": round(call.init_end, 3),
        "initDurationMs": round((call.init_end - call.init_start) * 1000, 1),
        "sinceInitEndMs": round((call.handler_start - call.init_end) * 1000, 1),
        "startedAt": round(call.handler_start, 3),
        "finishedAt": round(call.handler_end, 3),
        "workSeconds": round(call.handler_end - call.handler_start, 3),
        "functionName": run.function,
        "functionVersion": run.version,
        "item": {"id": call.item},
    }


def execution_output(run: SimulatedRun) -> dict[str, Any]:
    """The state machine's output: short keys, one entry per item in item order."""
    results: list[dict[str, Any]] = []
    for call in run.calls:
        if call.error:
            results.append(
                {"id": call.item, "error": {"Error": call.error, "Cause": _error_cause(call)}}
            )
            continue
        full = _handler_result(run, call)
        results.append(
            {
                "id": call.item,
                "req": full["requestId"],
                "env": full["environmentId"],
                "first": full["firstInvocation"],
                "initType": full["initializationType"],
                "initMs": full["initDurationMs"],
                "start": full["startedAt"],
                "end": full["finishedAt"],
                "ver": full["functionVersion"],
            }
        )
    return {"results": results}


def _error_cause(call: Call) -> str:
    return json.dumps(
        {
            "errorMessage": f"item {call.item}: durationSeconds must be a number",
            "errorType": "ValueError",
            "requestId": call.request_id,
            "stackTrace": ['  File "/var/task/concurrencytest.py", line 120, in lambda_handler\n'],
        }
    )


def _invoke_output(run: SimulatedRun, call: Call) -> str:
    """Lambda Invoke's response as the lambda:invoke integration records it."""
    payload = _handler_result(run, call)
    date = datetime.fromtimestamp(call.ended, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    headers = {
        "Connection": "keep-alive",
        "Content-Length": str(len(json.dumps(payload))),
        "Content-Type": "application/json",
        "Date": date,
        "X-Amz-Executed-Version": run.version,
        "x-amzn-Remapped-Content-Length": "0",
        "x-amzn-RequestId": call.request_id,
        "X-Amzn-Trace-Id": f"Root={run.trace_id};Parent={call.request_id[:16]};Sampled=1",
    }
    return json.dumps(
        {
            "ExecutedVersion": run.version,
            "Payload": payload,
            "SdkHttpMetadata": {
                "AllHttpHeaders": {k: [v] for k, v in headers.items()},
                "HttpHeaders": headers,
                "HttpStatusCode": 200,
            },
            "SdkResponseMetadata": {"RequestId": call.request_id},
            "StatusCode": 200,
        }
    )


def execution_history(run: SimulatedRun) -> dict[str, Any]:
    """GetExecutionHistory as the AWS CLI v2 prints it: ISO timestamps, interleaved iterations."""
    pending: list[tuple[float, int, dict[str, Any], str | None]] = []
    # (time, order, event without id, key of the event it follows)
    order = 0

    def add(when: float, event: dict[str, Any], key: str, follows: str | None) -> None:
        nonlocal order
        event["_key"] = key
        pending.append((when, order, event, follows))
        order += 1

    alias_arn = f"{run.function_arn}:{run.alias}"
    add(
        run.start,
        {
            "type": "ExecutionStarted",
            "executionStartedEventDetails": {
                "input": json.dumps({"items": [{"id": c.item} for c in run.calls]}),
                "roleArn": f"arn:aws:iam::{ACCOUNT}:role/StateMachineRole",
            },
        },
        "exec",
        None,
    )
    add(
        run.start + 0.01,
        {
            "type": "MapStateEntered",
            "stateEnteredEventDetails": {"name": "InvokeForEachItem", "input": "{}"},
        },
        "map-entered",
        "exec",
    )
    add(
        run.start + 0.02,
        {"type": "MapStateStarted", "mapStateStartedEventDetails": {"length": len(run.calls)}},
        "map",
        "map-entered",
    )
    for index, call in enumerate(run.calls):
        k = f"i{index}"
        add(
            call.scheduled - 0.004,
            {
                "type": "MapIterationStarted",
                "mapIterationStartedEventDetails": {"name": "InvokeForEachItem", "index": index},
            },
            f"{k}-iter",
            "map",
        )
        add(
            call.scheduled - 0.002,
            {
                "type": "TaskStateEntered",
                "stateEnteredEventDetails": {
                    "name": "InvokeFunction",
                    "input": json.dumps({"item": {"id": call.item}}),
                },
            },
            f"{k}-entered",
            f"{k}-iter",
        )
        parameters = json.dumps({"FunctionName": alias_arn, "Payload": {"item": {"id": call.item}}})

        def scheduled_event(parameters: str = parameters) -> dict[str, Any]:
            details = {"resourceType": "lambda", "resource": "invoke", "region": REGION}
            return {
                "type": "TaskScheduled",
                "taskScheduledEventDetails": {**details, "parameters": parameters},
            }

        previous = f"{k}-entered"
        for attempt, (t_sched, t_fail) in enumerate(call.throttle_times):
            add(t_sched, scheduled_event(), f"{k}-s{attempt}", previous)
            add(
                t_sched + 0.01,
                {
                    "type": "TaskStarted",
                    "taskStartedEventDetails": {"resourceType": "lambda", "resource": "invoke"},
                },
                f"{k}-t{attempt}",
                f"{k}-s{attempt}",
            )
            add(
                t_fail,
                {
                    "type": "TaskFailed",
                    "taskFailedEventDetails": {
                        "resourceType": "lambda",
                        "resource": "invoke",
                        "error": "Lambda.TooManyRequestsException",
                        "cause": "Rate Exceeded. (Service: AWSLambda; Status Code: 429; "
                        "Error Code: TooManyRequestsException; Request ID: "
                        f"{uuid.uuid5(uuid.NAMESPACE_URL, k)}; Proxy: null)",
                    },
                },
                f"{k}-f{attempt}",
                f"{k}-t{attempt}",
            )
            previous = f"{k}-f{attempt}"
        scheduled = call.started - 0.01 if call.throttles else call.scheduled
        add(
            scheduled,
            scheduled_event(),
            f"{k}-sched",
            previous,
        )
        add(
            call.started,
            {
                "type": "TaskStarted",
                "taskStartedEventDetails": {"resourceType": "lambda", "resource": "invoke"},
            },
            f"{k}-started",
            f"{k}-sched",
        )
        if call.error:
            add(
                call.ended,
                {
                    "type": "TaskFailed",
                    "taskFailedEventDetails": {
                        "resourceType": "lambda",
                        "resource": "invoke",
                        "error": call.error,
                        "cause": _error_cause(call),
                    },
                },
                f"{k}-done",
                f"{k}-started",
            )
        else:
            add(
                call.ended,
                {
                    "type": "TaskSucceeded",
                    "taskSucceededEventDetails": {
                        "resourceType": "lambda",
                        "resource": "invoke",
                        "output": _invoke_output(run, call),
                    },
                },
                f"{k}-done",
                f"{k}-started",
            )
        add(
            call.ended + 0.001,
            {
                "type": "TaskStateExited",
                "stateExitedEventDetails": {"name": "InvokeFunction", "output": "{}"},
            },
            f"{k}-exited",
            f"{k}-done",
        )
        add(
            call.ended + 0.002,
            {
                "type": "MapIterationSucceeded",
                "mapIterationSucceededEventDetails": {"name": "InvokeForEachItem", "index": index},
            },
            f"{k}-iter-done",
            f"{k}-exited",
        )
    add(run.end, {"type": "MapStateSucceeded"}, "map-done", "map")
    add(
        run.end + 0.001,
        {
            "type": "ExecutionSucceeded",
            "executionSucceededEventDetails": {"output": json.dumps(execution_output(run))},
        },
        "exec-done",
        "map-done",
    )
    pending.sort(key=lambda p: (p[0], p[1]))
    ids: dict[str, int] = {}
    events: list[dict[str, Any]] = []
    for number, (when, _, event, follows) in enumerate(pending, start=1):
        key = event.pop("_key")
        ids[key] = number
        event["id"] = number
        event["previousEventId"] = ids.get(follows, 0) if follows else 0
        event["timestamp"] = _iso(when)
        events.append(event)
    return {"events": events}


def _segment_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def xray_traces(
    run: SimulatedRun, *, seed: int = 11, stream_subsegments: bool = True
) -> dict[str, Any]:
    """BatchGetTraces for the execution's trace: Lambda service and function segments per call.

    ``Initialization`` appears only for calls that waited for an on-demand init; the handler's
    ``work`` subsegment with its ``cold_start`` annotation is streamed as its own document.
    """
    rng = random.Random(seed)
    documents: list[dict[str, Any]] = []
    sfn_id = _segment_id(rng)
    documents.append(
        {
            "id": sfn_id,
            "name": run.state_machine,
            "start_time": run.start,
            "end_time": run.end,
            "trace_id": run.trace_id,
            "origin": "AWS::StepFunctions::StateMachine",
            "aws": {"execution_arn": run.execution_arn},
            "subsegments": [],
        }
    )
    for call in run.calls:
        if call.error:
            continue
        service_id, function_id = _segment_id(rng), _segment_id(rng)
        documents.append(
            {
                "id": service_id,
                "name": run.function,
                "start_time": call.started,
                "end_time": call.ended - 0.005,
                "parent_id": sfn_id,
                "trace_id": run.trace_id,
                "origin": "AWS::Lambda",
                "http": {"response": {"status": 200}},
                "aws": {"request_id": call.request_id},
                "resource_arn": f"{run.function_arn}:{run.alias}",
            }
        )
        subsegments: list[dict[str, Any]] = []
        cold = call.first and call.init_type == "on-demand"
        if cold:
            subsegments.append(
                {
                    "id": _segment_id(rng),
                    "name": "Initialization",
                    "start_time": call.init_start,
                    "end_time": call.init_end,
                    "aws": {"function_arn": f"{run.function_arn}:{run.alias}"},
                }
            )
        invocation_id = _segment_id(rng)
        subsegments.append(
            {
                "id": invocation_id,
                "name": "Invocation",
                "start_time": call.handler_start - 0.0005,
                "end_time": call.handler_end + 0.0005,
                "aws": {"function_arn": f"{run.function_arn}:{run.alias}"},
            }
        )
        subsegments.append(
            {
                "id": _segment_id(rng),
                "name": "Overhead",
                "start_time": call.handler_end + 0.0005,
                "end_time": call.handler_end + 0.002,
                "aws": {"function_arn": f"{run.function_arn}:{run.alias}"},
            }
        )
        work = {
            "id": _segment_id(rng),
            "name": "work",
            "start_time": call.handler_start + 0.0002,
            "end_time": call.handler_end - 0.0002,
            "annotations": {"cold_start": call.first},
        }
        if not stream_subsegments:
            subsegments[-2]["subsegments"] = [work]
        documents.append(
            {
                "id": function_id,
                "name": run.function,
                "start_time": call.handler_start - 0.001,
                "end_time": call.handler_end + 0.002,
                "parent_id": service_id,
                "trace_id": run.trace_id,
                "origin": "AWS::Lambda::Function",
                "aws": {
                    "function_arn": f"{run.function_arn}:{run.alias}",
                    "resource_names": [run.function],
                    "account_id": ACCOUNT,
                },
                "subsegments": subsegments,
            }
        )
        if stream_subsegments:
            documents.append(
                {**work, "type": "subsegment", "parent_id": invocation_id, "trace_id": run.trace_id}
            )
    segments = [{"Id": d["id"], "Document": json.dumps(d)} for d in documents]
    return {
        "Traces": [
            {
                "Id": run.trace_id,
                "Duration": run.end - run.start,
                "LimitExceeded": False,
                "Segments": segments,
            }
        ],
        "UnprocessedTraceIds": [],
    }


def _stream_name(run: SimulatedRun, call: Call) -> str:
    day = datetime.fromtimestamp(run.start, UTC).strftime("%Y/%m/%d")
    return f"{day}/[{run.version}]{uuid.uuid5(uuid.NAMESPACE_OID, call.env).hex}"


def log_events(run: SimulatedRun) -> dict[str, Any]:
    """FilterLogEvents over the function's log group: text-format START/END/REPORT lines."""
    events: list[dict[str, Any]] = []
    for call in run.calls:
        stream = _stream_name(run, call)
        duration = (call.handler_end - call.handler_start) * 1000
        cold = call.first and call.init_type == "on-demand"
        init = (call.init_end - call.init_start) * 1000
        billed = int(duration + (init if cold else 0)) + 1
        report = (
            f"REPORT RequestId: {call.request_id}\tDuration: {duration:.2f} ms\t"
            f"Billed Duration: {billed} ms\tMemory Size: {run.memory_mb} MB\t"
            f"Max Memory Used: 41 MB\t"
            + (f"Init Duration: {init:.2f} ms\t" if cold else "")
            + f"\nXRAY TraceId: {run.trace_id}\tSegmentId: {call.request_id[:16]}"
            + "\tSampled: true\t\n"
        )
        for when, message in (
            (call.handler_start, f"START RequestId: {call.request_id} Version: {run.version}\n"),
            (call.handler_end, f"END RequestId: {call.request_id}\n"),
            (call.handler_end + 0.001, report),
        ):
            events.append(
                {
                    "logStreamName": stream,
                    "timestamp": int(when * 1000),
                    "message": message,
                    "ingestionTime": int(when * 1000) + 500,
                    "eventId": str(uuid.uuid5(uuid.NAMESPACE_DNS, message)),
                }
            )
    events.sort(key=lambda e: e["timestamp"])
    return {"events": events, "searchedLogStreams": []}
