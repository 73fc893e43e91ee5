"""Looking at a run the way the sample and AWS's docs say, against a real local cloud over HTTP.

The real sample handler (functions/concurrencytest.py, traced, annotating ``cold_start``) runs in
the real execution environments: 3 calls at once (3 cold starts), then 2 one after the other
(warm). What X-Ray's GetTraceSummaries / GetServiceGraph and Logs Insights answer must be what
happened; 120 more traces of another service, written the way the local cloud writes them (the
telemetry sink), make GetTraceSummaries page.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from localcloud.cloud_helpers import Cloud, error_of, handler_zip
from pclab.localcloud.moto import MotoTelemetrySink
from pclab.localcloud.moto.xray import PAGE_SIZE
from pclab.localcloud.server import LocalCloud, free_port

from .environments.conftest import REPO

COLD_START_QUERY = 'filter @type = "REPORT" | stats count(*) as calls, count(@initDuration) as cold'
PAGED = 120  # traces of the other service: more than one page


@dataclass
class Run:
    cloud: Cloud
    function: str
    start: float
    end: float
    cold_trace_ids: set[str]  # from the REPORT lines that carry an Init Duration
    warm_trace_ids: set[str]
    paged_service: str


def _deploy(cloud: Cloud) -> str:
    """The sample handler, traced, as app.py (a 0.2 s init, 0.3 s of work per call)."""
    lam, iam = cloud.client("lambda"), cloud.client("iam")
    name = f"obs-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=f"r-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": handler_zip((REPO / "functions" / "concurrencytest.py").read_text())},
        Timeout=30,
        TracingConfig={"Mode": "Active"},
        Environment={"Variables": {"COLD_START_DELAY": "0.2", "FUNCTION_DURATION": "0.3"}},
    )
    return name


def _reports(cloud: Cloud, name: str, count: int) -> list[str]:
    """The function's REPORT lines, once all ``count`` arrived (the sink writes them async)."""
    logs = cloud.client("logs")
    deadline = time.monotonic() + 15
    reports: list[str] = []
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(
                logGroupName=f"/aws/lambda/{name}", filterPattern="REPORT"
            )["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        reports = [e["message"] for e in events]
        if len(reports) >= count:
            break
        time.sleep(0.1)
    assert len(reports) == count, reports
    return reports


def _wait_for_traces(cloud: Cloud, trace_ids: set[str]) -> None:
    xray = cloud.client("xray")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = xray.batch_get_traces(TraceIds=sorted(trace_ids))["Traces"]
        functions = {
            t["Id"]
            for t in found
            for s in t["Segments"]
            if json.loads(s["Document"]).get("origin") == "AWS::Lambda::Function"
        }
        if functions == trace_ids:
            return
        time.sleep(0.1)
    raise AssertionError("the function segments of the run never arrived")


def _paged_traces(service: str, at: float) -> None:
    """Traces of another service, as the sink writes them (one segment each, one per 10 ms)."""
    documents = [
        json.dumps(
            {
                "name": service,
                "id": f"{i:016x}",
                "trace_id": f"1-{int(at):08x}-{uuid.uuid4().hex[:24]}",
                "start_time": at + i / 100,
                "end_time": at + i / 100 + 0.05,
                "origin": "AWS::EC2::Instance",
            }
        )
        for i in range(PAGED)
    ]
    MotoTelemetrySink().put_trace_segments(documents)


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    local = LocalCloud(free_port())
    local.start()
    try:
        cloud = Cloud(local)
        name = _deploy(cloud)
        lam = cloud.client("lambda")
        start = time.time()

        def call(i: int) -> None:
            answer = lam.invoke(FunctionName=name, Payload=json.dumps({"item": {"id": i}}))
            assert "FunctionError" not in answer, answer["Payload"].read()

        with ThreadPoolExecutor(3) as pool:
            list(pool.map(call, range(3)))
        call(3)
        call(4)
        reports = _reports(cloud, name, 5)
        ids = {m.split("XRAY TraceId: ")[1].split("\t")[0]: "Init Duration" in m for m in reports}
        _wait_for_traces(cloud, set(ids))
        paged = f"paged-{uuid.uuid4().hex[:6]}"
        _paged_traces(paged, time.time())
        yield Run(
            cloud,
            name,
            start - 1,
            time.time() + 5,
            {t for t, cold in ids.items() if cold},
            {t for t, cold in ids.items() if not cold},
            paged,
        )
    finally:
        local.stop()


def _summaries(run: Run, expression: str | None = None, **more: Any) -> list[dict[str, Any]]:
    xray = run.cloud.client("xray")
    extra = {"FilterExpression": expression} if expression is not None else {}
    pages = xray.get_paginator("get_trace_summaries").paginate(
        StartTime=run.start, EndTime=run.end, **extra, **more
    )
    return [s for page in pages for s in page["TraceSummaries"]]


def test_the_run_had_three_cold_starts_and_two_warm_calls(run: Run) -> None:
    assert (len(run.cold_trace_ids), len(run.warm_trace_ids)) == (3, 2)


def test_service_filter_selects_the_functions_traces(run: Run) -> None:
    found = _summaries(run, f'service("{run.function}")')
    assert {s["Id"] for s in found} == run.cold_trace_ids | run.warm_trace_ids
    summary = found[0]
    assert summary["Duration"] >= summary["ResponseTime"] >= 0.3  # the work sleeps 0.3 s
    types = {(s["Name"], s.get("Type")) for s in summary["ServiceIds"]}
    assert {(run.function, "AWS::Lambda"), (run.function, "AWS::Lambda::Function")} <= types
    assert not (summary["HasError"] or summary["HasFault"] or summary["HasThrottle"])


def test_cold_start_annotation_selects_the_cold_traces(run: Run) -> None:
    # other tests of this process may have left traces in moto's store: none of ours is missed
    everywhere = {s["Id"] for s in _summaries(run, "annotation.cold_start = true")}
    assert run.cold_trace_ids <= everywhere and not run.warm_trace_ids & everywhere
    cold = _summaries(run, f'service("{run.function}") AND annotation.cold_start = true')
    assert {s["Id"] for s in cold} == run.cold_trace_ids
    assert all(
        a["AnnotationValue"] == {"BooleanValue": True}
        for s in cold
        for a in s["Annotations"]["cold_start"]
    )
    warm = _summaries(run, f'service("{run.function}") AND annotation.cold_start = false')
    assert {s["Id"] for s in warm} == run.warm_trace_ids


def test_a_malformed_filter_expression_is_a_400(run: Run) -> None:
    xray = run.cloud.client("xray")
    status, code, message = error_of(
        lambda: xray.get_trace_summaries(
            StartTime=run.start, EndTime=run.end, FilterExpression='service("x"'
        )
    )
    assert (status, code) == (400, "InvalidRequestException")
    assert "position 11" in message


def test_summaries_page_with_next_token_newest_first(run: Run) -> None:
    xray = run.cloud.client("xray")
    expression = f'service("{run.paged_service}")'
    first = xray.get_trace_summaries(
        StartTime=run.start, EndTime=run.end, FilterExpression=expression
    )
    assert len(first["TraceSummaries"]) == PAGE_SIZE and first["NextToken"]
    second = xray.get_trace_summaries(
        StartTime=run.start,
        EndTime=run.end,
        FilterExpression=expression,
        NextToken=first["NextToken"],
    )
    assert "NextToken" not in second
    pages = first["TraceSummaries"] + second["TraceSummaries"]
    assert len({s["Id"] for s in pages}) == PAGED
    times = [s["StartTime"] for s in pages]
    assert times == sorted(times, reverse=True)  # the first page holds the most recent
    everything = {s["Id"] for s in _summaries(run, TimeRangeType="Event")}  # through pages
    assert {s["Id"] for s in pages} | run.cold_trace_ids | run.warm_trace_ids <= everything


def test_service_graph_has_the_functions_nodes_and_edges(run: Run) -> None:
    graph = run.cloud.client("xray").get_service_graph(StartTime=run.start, EndTime=run.end)
    nodes = {(s["Name"], s["Type"]): s for s in graph["Services"]}
    service = nodes[(run.function, "AWS::Lambda")]
    function = nodes[(run.function, "AWS::Lambda::Function")]
    assert service["SummaryStatistics"]["TotalCount"] == 5
    assert function["SummaryStatistics"]["OkCount"] == 5
    (edge,) = [e for e in service["Edges"] if e["ReferenceId"] == function["ReferenceId"]]
    assert edge["SummaryStatistics"]["TotalCount"] == 5
    assert sum(h["Count"] for h in edge["ResponseTimeHistogram"]) == 5
    assert edge["SummaryStatistics"]["TotalResponseTime"] >= 5 * 0.3
    clients = [s for s in graph["Services"] if s["Type"] == "client"]
    assert any(e["ReferenceId"] == service["ReferenceId"] for c in clients for e in c["Edges"]), (
        "a client node calls the function's AWS::Lambda node"
    )


def test_logs_insights_counts_calls_and_cold_starts(run: Run) -> None:
    logs = run.cloud.client("logs")
    query_id = logs.start_query(
        logGroupName=f"/aws/lambda/{run.function}",
        startTime=int(run.start),
        endTime=int(run.end),
        queryString=COLD_START_QUERY,
    )["queryId"]
    result = logs.get_query_results(queryId=query_id)
    assert result["status"] == "Complete"
    assert result["results"] == [
        [{"field": "calls", "value": "5"}, {"field": "cold", "value": "3"}]
    ]
    assert result["statistics"]["recordsMatched"] == 5
    assert result["statistics"]["recordsScanned"] > 5  # START, END and the handler's lines too
    before = logs.start_query(
        logGroupIdentifiers=[f"/aws/lambda/{run.function}"],
        startTime=int(run.start) - 3600,
        endTime=int(run.start) - 60,
        queryString=COLD_START_QUERY,
    )["queryId"]
    earlier = logs.get_query_results(queryId=before)
    assert earlier["results"] == [] and earlier["statistics"]["recordsScanned"] == 0


def test_a_malformed_query_is_malformed_query_exception(run: Run) -> None:
    logs = run.cloud.client("logs")
    with pytest.raises(logs.exceptions.MalformedQueryException) as caught:
        logs.start_query(
            logGroupName=f"/aws/lambda/{run.function}",
            startTime=int(run.start),
            endTime=int(run.end),
            queryString='filter @type = "REPORT" | stats count(*) by',
        )
    location = caught.value.response["queryCompileError"]["location"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert location["startCharOffset"] >= len('filter @type = "REPORT" | stats count(*)')
