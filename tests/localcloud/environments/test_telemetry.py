"""X-Ray and CloudWatch Logs records agree with what the real sample handler says about itself."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from pclab.localcloud.environments import EnvironmentManager
from pclab.localcloud.environments.telemetry import new_segment_id, new_trace_id

from .conftest import MemorySink, assert_gone, sample_spec
from .helpers import body, invoke, invoke_many, wait_status

pytestmark = pytest.mark.slow


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_xray_and_logs_agree_with_the_handlers_cold_and_warm_answers(
    manager: EnvironmentManager, sink: MemorySink
) -> None:
    spec = sample_spec("sample", init_delay=0.3, work=0.2)
    manager.put_provisioned_concurrency(spec, "live", 2)
    wait_status(manager, "sample", "live", "READY", timeout=60)
    # One trace per call, as separate traced callers would make. (Calls sharing one Root, like
    # the items of one state machine execution, make the SDK keep its first facade segment: a
    # warm call's subsegments then sit under the previous call's Parent, on Lambda too.)
    roots = {i: new_trace_id() for i in range(8)}
    caller = new_segment_id()

    # 4 at once on PC 2: 2 served by PC, 2 spill over (cold); then 4 more: all warm.
    def wave(ids: range) -> list[dict[str, Any]]:
        def one(i: int) -> dict[str, Any]:
            header = f"Root={roots[i]};Parent={caller};Sampled=1"
            r = invoke(manager, spec, {"item": {"id": i}}, qualifier="live", trace_header=header)
            return body(r)

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(ids)) as pool:
            return list(pool.map(one, ids))

    results = wave(range(4)) + wave(range(4, 8))
    by_request = {d["requestId"]: d for d in results}
    cold = {
        d["requestId"]
        for d in results
        if d["initializationType"] == "on-demand" and d["firstInvocation"]
    }
    assert len(cold) == 2

    manager.flush_telemetry()
    # The handler's own "work" subsegments come over UDP: wait for all 8.
    _wait_for(lambda: sum(s.get("name") == "work" for s in sink.segments) >= 8)
    manager.flush_telemetry()
    segs = [s for s in sink.segments if s["trace_id"] in roots.values()]
    service = {s["aws"]["request_id"]: s for s in segs if s.get("origin") == "AWS::Lambda"}
    function = {s["parent_id"]: s for s in segs if s.get("origin") == "AWS::Lambda::Function"}
    assert set(service) == set(by_request), "one AWS::Lambda segment per invocation"
    for request_id, svc in service.items():
        assert svc["trace_id"] == roots[by_request[request_id]["item"]["id"]]
        assert svc["parent_id"] == caller, "in the caller's trace, under the caller's segment"
        assert svc["resource_arn"].endswith(":sample:live")
        fn = function[svc["id"]]
        names = [s["name"] for s in fn["subsegments"]]
        assert ("Initialization" in names) == (request_id in cold), names
        assert "Invocation" in names and "Overhead" in names
        if request_id in cold:
            init = next(s for s in fn["subsegments"] if s["name"] == "Initialization")
            assert init["start_time"] < fn["start_time"]
            # Lambda's Initialization spans the handler's own init (plus runtime start-up).
            handler_init = by_request[request_id]["initDurationMs"] / 1000.0
            assert init["end_time"] - init["start_time"] >= handler_init - 0.005
        invocation = next(s for s in fn["subsegments"] if s["name"] == "Invocation")
        work = [
            s for s in segs if s.get("name") == "work" and s.get("parent_id") == invocation["id"]
        ]
        assert len(work) == 1, "the SDK subsegment nests under Invocation"
        assert work[0]["annotations"]["cold_start"] == by_request[request_id]["firstInvocation"]
        assert work[0]["end_time"] - work[0]["start_time"] >= 0.15

    reports = [m for m in sink.messages("/aws/lambda/sample") if m.startswith("REPORT")]
    with_init = [m for m in reports if "Init Duration" in m]
    assert len(reports) == 8 and len(with_init) == 2, "Init Duration only on the 2 cold starts"
    assert {m.split("RequestId: ")[1].split("\t")[0] for m in with_init} == cold
    assert all("XRAY TraceId: 1-" in m and "Sampled: true" in m for m in reports)
    # The handler's own result line is in the invocation's stream.
    assert any(m.startswith('{"requestId":') for m in sink.messages("/aws/lambda/sample"))
    streams = {s for g, s in sink.logs if g == "/aws/lambda/sample"}
    assert len(streams) == 4, "one stream per environment (2 provisioned + 2 on-demand)"


def test_untraced_calls_write_no_segments_but_the_sdk_still_works(
    manager: EnvironmentManager, sink: MemorySink
) -> None:
    spec = sample_spec("quiet", init_delay=0, work=0)
    spec = type(spec)(**{**vars(spec), "tracing_active": False})
    doc = body(invoke(manager, spec, {"item": {"id": 1}}))
    assert doc["firstInvocation"] is True
    manager.flush_telemetry()
    time.sleep(0.2)
    assert sink.segments == []


def test_delivered_into_motos_xray_and_logs_backends(sink: MemorySink) -> None:
    """The control plane's sink over moto: BatchGetTraces and FilterLogEvents see our records."""
    import boto3
    from moto import mock_aws

    from pclab.localcloud.moto import MotoTelemetrySink

    with mock_aws():
        mgr = EnvironmentManager(MotoTelemetrySink())
        try:
            spec = sample_spec("moto-fn", init_delay=0.2, work=0.1)
            root = new_trace_id()
            header = f"Root={root};Parent={new_segment_id()};Sampled=1"
            results = invoke_many(
                mgr, spec, [{"item": {"id": i}} for i in range(3)], qualifier=None
            )
            assert all(body(r)["firstInvocation"] for r in results)
            for r in results:
                assert r.function_error is None
            body(invoke(mgr, spec, {"item": {"id": 9}}, trace_header=header))
            mgr.flush_telemetry()
            xray = boto3.client("xray", region_name="us-east-1")
            logs = boto3.client("logs", region_name="us-east-1")

            def trace_complete() -> bool:
                mgr.flush_telemetry()
                traces = xray.batch_get_traces(TraceIds=[root])["Traces"]
                docs = [json.loads(s["Document"]) for t in traces for s in t["Segments"]]
                return {d.get("origin") for d in docs} >= {
                    "AWS::Lambda",
                    "AWS::Lambda::Function",
                } and any(d.get("name") == "work" for d in docs)

            _wait_for(trace_complete)
            events = logs.filter_log_events(
                logGroupName="/aws/lambda/moto-fn", filterPattern="REPORT"
            )["events"]
            assert len(events) == 4
            assert sum("Init Duration" in e["message"] for e in events) == 3
            streams = logs.describe_log_streams(logGroupName="/aws/lambda/moto-fn")["logStreams"]
            assert len(streams) == 3
        finally:
            pids = mgr.environment_pids()
            mgr.shutdown()
            assert_gone(pids)
