"""The late sources: X-Ray in batches of 5 with pages and a deadline, REPORT lines through every
page, and each missing source recorded with a reason instead of stopping the run."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from pclab.analysis.model import Source
from pclab.cloud import collect
from pclab.cloud.aws import Clients
from pclab.cloud.executions import Execution
from pclab.cloud.stack import FunctionFacts, Target

FAST = collect.PollPolicy(deadline_seconds=0.3, settle_seconds=0.1, interval_seconds=0.05)
TARGET = Target(
    "reserved",
    "arn:aws:states:us-east-1:123456789012:stateMachine:Base",
    "base-fn",
    "arn:aws:lambda:us-east-1:123456789012:function:base-fn:live",
)


def new_trace_id() -> str:
    return f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"


def lambda_call_segments(trace_id: str, request_id: str, start: float, cold: bool) -> list[str]:
    """The two segments Lambda writes per call (FACTS.md), as JSON documents."""
    service_id, function_id = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
    subsegments: list[dict[str, Any]] = []
    if cold:
        subsegments.append(
            {
                "id": uuid.uuid4().hex[:16],
                "name": "Initialization",
                "start_time": start,
                "end_time": start + 1.0,
            }
        )
    run = start + (1.0 if cold else 0.0)
    subsegments.append(
        {
            "id": uuid.uuid4().hex[:16],
            "name": "Invocation",
            "start_time": run,
            "end_time": run + 0.5,
        }
    )
    service = {
        "id": service_id,
        "trace_id": trace_id,
        "name": "base-fn",
        "origin": "AWS::Lambda",
        "start_time": start,
        "end_time": run + 0.5,
        "aws": {"request_id": request_id},
    }
    function = {
        "id": function_id,
        "trace_id": trace_id,
        "parent_id": service_id,
        "name": "base-fn",
        "origin": "AWS::Lambda::Function",
        "start_time": run,
        "end_time": run + 0.5,
        "subsegments": subsegments,
    }
    return [json.dumps(service), json.dumps(function)]


def execution_with_trace(name: str, trace_id: str | None) -> Execution:
    execution = Execution(
        target=TARGET,
        name=name,
        arn=f"arn:aws:states:us-east-1:123456789012:execution:Base:{name}",
        items=2,
        started_at=time.time(),
    )
    execution.describe = {"status": "SUCCEEDED"}
    if trace_id:
        execution.describe["traceHeader"] = f"Root={trace_id};Sampled=1"
    return execution


def test_traces_are_fetched_five_ids_a_call(clients: Clients) -> None:
    runs: list[Execution] = []
    now = time.time()
    for index in range(12):
        trace_id = new_trace_id()
        documents = lambda_call_segments(trace_id, str(uuid.uuid4()), now, cold=True)
        documents += lambda_call_segments(trace_id, str(uuid.uuid4()), now + 2, cold=False)
        clients.xray.put_trace_segments(TraceSegmentDocuments=documents)
        runs.append(execution_with_trace(f"e{index}", trace_id))
    asked: list[list[str]] = []
    clients.xray.meta.events.register(
        "provide-client-params.xray.BatchGetTraces",
        lambda params, **_: asked.append(list(params["TraceIds"])),
    )
    batches = collect.xray(clients, runs, expected_calls=24, policy=FAST)
    assert [len(ids) for ids in asked] == [5, 5, 2]  # one poll was enough: all 24 calls there
    assert all(c.batch.provided for c in batches)
    for collected in batches:
        records = collected.batch.invocations
        assert len(records) == 2
        assert sorted(r.xray_initialization for r in records) == [False, True]
        assert all(r.state_machine == "Base" for r in records)
    saved = batches[0].raw["raw/Base/traces.json"]
    assert len(saved["Traces"][0]["Segments"]) == 4


def test_trace_pages_are_followed_and_merged(clients: Clients) -> None:
    """A reply with NextToken is followed; segments repeated across pages are kept once."""
    trace_id = new_trace_id()
    documents = lambda_call_segments(trace_id, "r1", time.time(), cold=False)
    pages = [
        {
            "Traces": [{"Id": trace_id, "Segments": [{"Id": "a", "Document": documents[0]}]}],
            "NextToken": "p2",
        },
        {
            "Traces": [
                {
                    "Id": trace_id,
                    "Segments": [
                        {"Id": "a", "Document": documents[0]},
                        {"Id": "b", "Document": documents[1]},
                    ],
                }
            ],
            "UnprocessedTraceIds": ["1-late"],
        },
    ]
    calls: list[dict[str, Any]] = []

    def batch_get_traces(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return pages[len(calls) - 1]

    fake = type("X", (), {"batch_get_traces": staticmethod(batch_get_traces)})()
    traces, unprocessed = collect.batch_get_traces(
        type("C", (), {"xray": fake})(),
        [trace_id],  # type: ignore[arg-type]
    )
    assert calls == [{"TraceIds": [trace_id]}, {"TraceIds": [trace_id], "NextToken": "p2"}]
    assert [s["Id"] for s in traces[0]["Segments"]] == ["a", "b"]
    assert unprocessed == ["1-late"]


def test_untraced_and_unsampled_executions_are_absent_with_a_reason(clients: Clients) -> None:
    untraced = execution_with_trace("off", None)
    missing = execution_with_trace("lost", new_trace_id())
    started = time.monotonic()
    off, lost = collect.xray(clients, [untraced, missing], expected_calls=2, policy=FAST)
    assert time.monotonic() - started < 2.0  # the deadline holds
    assert not off.batch.provided and "tracing is off" in (off.batch.note or "")
    assert not lost.batch.provided and "not found within" in (lost.batch.note or "")
    assert off.batch.source is Source.XRAY


def test_polling_stops_when_complete_settled_or_late() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def run(counts: list[int], complete_at: int | None = None) -> int:
        calls = [0]

        def fetch() -> tuple[int, bool]:
            index = min(calls[0], len(counts) - 1)
            calls[0] += 1
            return counts[index], complete_at is not None and calls[0] >= complete_at

        now[0] = 0.0
        policy = collect.PollPolicy(deadline_seconds=10, settle_seconds=2, interval_seconds=1)
        collect.poll_until_settled(fetch, policy, sleep=sleep, clock=lambda: now[0])
        return calls[0]

    assert run([5], complete_at=1) == 1  # everything there: one call
    assert run([1, 3, 6, 6, 6, 6]) == 5  # grew until t=2, then unchanged for 2 s
    assert run([0]) == 11  # nothing ever came: until the deadline, not forever


def test_report_lines_through_every_page_and_only_this_runs_calls(clients: Clients) -> None:
    group = "/aws/lambda/base-fn"
    clients.logs.create_log_group(logGroupName=group)
    clients.logs.create_log_stream(logGroupName=group, logStreamName="2026/01/01/[1]abc")
    now_ms = int(time.time() * 1000)
    ours = [str(uuid.uuid4()) for _ in range(25)]
    messages = [
        f"REPORT RequestId: {rid}\tDuration: 500.00 ms\tBilled Duration: 501 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 40 MB\t"
        for rid in [*ours, "someone-elses-call"]
    ]
    messages += [f"START RequestId: {rid} Version: 1" for rid in ours]
    clients.logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/01/01/[1]abc",
        logEvents=[{"timestamp": now_ms + i, "message": m} for i, m in enumerate(messages)],
    )
    asked: list[str | None] = []
    clients.logs.meta.events.register(
        "provide-client-params.logs.FilterLogEvents",
        lambda params, **_: asked.append(params.get("nextToken")),
    )
    collected = collect.logs(
        clients,
        TARGET,
        FunctionFacts(log_group=group),
        (time.time() - 10, time.time() + 10),
        set(ours),
        FAST,
        page_size=10,
    )
    assert len(asked) == 3 and asked[0] is None  # 26 REPORT lines, 10 a page
    assert sorted(r.request_id or "" for r in collected.batch.invocations) == sorted(ours)
    assert collected.batch.note == "1 REPORT line(s) of other calls in the window ignored"
    assert len(collected.raw["raw/base-fn/report-lines.json"]["events"]) == 26


def test_missing_log_group_is_absent_with_its_name(clients: Clients) -> None:
    collected = collect.logs(
        clients, TARGET, FunctionFacts(log_group="/aws/lambda/gone"), (0.0, 1.0), {"r"}, FAST
    )
    assert not collected.batch.provided
    assert collected.batch.note == "log group /aws/lambda/gone not found"


@pytest.mark.parametrize(
    ("log_format", "pattern"),
    [("Text", '"REPORT RequestId"'), ("JSON", '{ $.type = "platform.report" }')],
)
def test_filter_pattern_follows_the_log_format(
    clients: Clients, log_format: str, pattern: str
) -> None:
    asked: list[str] = []
    clients.logs.meta.events.register(
        "provide-client-params.logs.FilterLogEvents",
        lambda params, **_: asked.append(params["filterPattern"]),
    )
    collect.logs(clients, TARGET, FunctionFacts(log_format=log_format), (0.0, 1.0), set(), FAST)
    assert asked and set(asked) == {pattern}
