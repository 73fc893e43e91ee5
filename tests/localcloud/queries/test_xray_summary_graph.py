"""TraceSummary and GetServiceGraph built from known traces, in the shapes AWS documents."""

from __future__ import annotations

from typing import Any

from localcloud.queries.traces import FUNCTION, STATE_MACHINE, step_functions_trace
from localcloud.queries.traces import web_trace_with_dynamodb as web_trace
from pclab.localcloud.queries import Trace, build_service_graph, build_trace_summary


def test_summary_of_a_cold_step_functions_trace() -> None:
    summary = build_trace_summary(step_functions_trace(init=1.0, work=0.5))
    assert summary["Id"] == "1-5f000000-000000000000000000000001"
    assert summary["StartTime"] == 1000.0
    assert summary["Duration"] == 1.7 and summary["ResponseTime"] == 1.7
    assert (summary["HasFault"], summary["HasError"], summary["HasThrottle"]) == (
        False,
        False,
        False,
    )
    assert summary["IsPartial"] is False
    assert summary["EntryPoint"] == {
        "Name": STATE_MACHINE,
        "Names": [STATE_MACHINE],
        "Type": "AWS::StepFunctions::StateMachine",
    }
    function_id = {
        "Name": FUNCTION,
        "Names": [FUNCTION],
        "AccountId": "123456789012",
        "Type": "AWS::Lambda::Function",
    }
    assert summary["Annotations"]["cold_start"] == [
        {"AnnotationValue": {"BooleanValue": True}, "ServiceIds": [function_id]}
    ]
    assert summary["Annotations"]["attempt"] == [
        {"AnnotationValue": {"NumberValue": 1.0}, "ServiceIds": [function_id]}
    ]
    assert summary["Annotations"]["status"][0]["AnnotationValue"] == {"StringValue": "SUCCEEDED"}
    assert [s["Type"] for s in summary["ServiceIds"]] == [
        "AWS::StepFunctions::StateMachine",
        "AWS::Lambda",
        "AWS::Lambda::Function",
    ]
    assert summary["ResourceARNs"] == [
        {"ARN": "arn:aws:lambda:us-east-1:123456789012:function:pclab-Function:live"}
    ]
    assert summary["Http"] == {} and summary["Users"] == []


def test_summary_flags_come_from_the_root_except_throttle_and_partial() -> None:
    assert build_trace_summary(step_functions_trace(state_machine_fault=True))["HasFault"]
    failing_function = build_trace_summary(step_functions_trace(function_error=True))
    assert failing_function["HasError"] is False  # only the root segment's status counts
    assert build_trace_summary(step_functions_trace(throttled=True))["HasThrottle"] is True
    partial = build_trace_summary(step_functions_trace(in_progress=True))
    assert partial["IsPartial"] is True


def test_summary_http_and_users_of_a_web_trace() -> None:
    summary = build_trace_summary(web_trace(status=404))
    assert summary["Http"] == {
        "HttpURL": "http://api.example.com/api/v2/game",
        "HttpMethod": "POST",
        "UserAgent": "curl/8",
        "ClientIp": "192.0.2.1",
        "HttpStatus": 404,
    }
    assert summary["HasError"] is True and summary["ResponseTime"] == 3.232
    assert summary["Users"] == [
        {
            "UserName": "alice",
            "ServiceIds": [
                {
                    "Name": "api.example.com",
                    "Names": ["api.example.com"],
                    "Type": "AWS::EC2::Instance",
                }
            ],
        }
    ]
    assert {"Name": "scores", "Names": ["scores"], "Type": "AWS::DynamoDB::Table"} in summary[
        "ServiceIds"
    ]


def _by_name_type(graph: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(s["Name"], s.get("Type", "")): s for s in graph["Services"]}


def test_service_graph_of_three_step_functions_traces() -> None:
    traces = [
        step_functions_trace(
            f"1-5f000000-00000000000000000000000{i}", start=1000.0 + i, cold=i == 0
        )
        for i in range(2)
    ] + [
        step_functions_trace(
            "1-5f000000-000000000000000000000009", start=1005.0, function_error=True
        )
    ]
    graph = build_service_graph(traces)
    nodes = _by_name_type(graph)
    assert set(nodes) == {
        (STATE_MACHINE, "client"),
        (STATE_MACHINE, "AWS::StepFunctions::StateMachine"),
        (FUNCTION, "AWS::Lambda"),
        (FUNCTION, "AWS::Lambda::Function"),
    }
    client = nodes[(STATE_MACHINE, "client")]
    root = nodes[(STATE_MACHINE, "AWS::StepFunctions::StateMachine")]
    service = nodes[(FUNCTION, "AWS::Lambda")]
    function = nodes[(FUNCTION, "AWS::Lambda::Function")]
    assert client["ReferenceId"] == 0 and client["State"] == "unknown"
    assert "SummaryStatistics" not in client
    assert [e["ReferenceId"] for e in client["Edges"]] == [root["ReferenceId"]]
    assert root["Root"] is True and root["State"] == "active"
    assert [e["ReferenceId"] for e in root["Edges"]] == [service["ReferenceId"]]
    assert [e["ReferenceId"] for e in service["Edges"]] == [function["ReferenceId"]]
    assert function["Edges"] == []
    stats = function["SummaryStatistics"]
    assert stats["TotalCount"] == 3 and stats["OkCount"] == 2
    assert stats["ErrorStatistics"] == {"ThrottleCount": 0, "OtherCount": 1, "TotalCount": 1}
    assert stats["FaultStatistics"] == {"OtherCount": 0, "TotalCount": 0}
    assert abs(stats["TotalResponseTime"] - 1.5) < 1e-6  # 0.5 s of work each
    assert function["ResponseTimeHistogram"] == [{"Value": 0.5, "Count": 3}]
    edge = service["Edges"][0]
    assert edge["SummaryStatistics"]["TotalCount"] == 3 and edge["Aliases"] == []
    # The Lambda service segment: 1.5 s when cold (with init: traces 0 and 9), 0.5 s when warm.
    assert service["ResponseTimeHistogram"] == [
        {"Value": 0.5, "Count": 1},
        {"Value": 1.5, "Count": 2},
    ]
    assert graph["StartTime"] == 1000.0
    references = sorted(s["ReferenceId"] for s in graph["Services"])
    assert references == list(range(4))


def test_service_graph_has_the_inferred_dynamodb_table() -> None:
    graph = build_service_graph([web_trace(table_status=500)])
    nodes = _by_name_type(graph)
    table = nodes[("scores", "AWS::DynamoDB::Table")]
    assert table["State"] == "unknown"
    assert table["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1
    api = nodes[("api.example.com", "AWS::EC2::Instance")]
    assert api["Edges"][0]["ReferenceId"] == table["ReferenceId"]
    assert api["Edges"][0]["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 1
    assert nodes[("api.example.com", "client")]["Edges"][0]["ReferenceId"] == api["ReferenceId"]


def test_service_graph_skips_unfinished_segments_in_counts() -> None:
    graph = build_service_graph([step_functions_trace(in_progress=True)])
    root = _by_name_type(graph)[(STATE_MACHINE, "AWS::StepFunctions::StateMachine")]
    assert root["SummaryStatistics"]["TotalCount"] == 0


def test_a_trace_grown_as_documents_arrive_answers_like_one_built_at_once() -> None:
    """The local cloud grows each trace on arrival: streamed subsegments before their parent, an
    in-progress segment later completed, and queries read between arrivals."""
    final = step_functions_trace(init=1.0, work=0.5)
    in_progress = [
        {k: v for k, v in doc.items() if k != "end_time"} | {"in_progress": True}
        for doc in final
        if doc.get("type") != "subsegment"
    ]
    grown = Trace()
    for doc in [*reversed(final[1:]), *in_progress]:
        grown.add([doc])
        build_trace_summary(grown)  # values worked out between arrivals are forgotten on add
    assert build_trace_summary(grown)["IsPartial"] is True  # the root is still in progress
    grown.add([final[0]])
    assert build_trace_summary(grown) == build_trace_summary(final)
    assert build_service_graph([grown]) == build_service_graph([final])
    assert grown.annotation_index["cold_start"] == [True]
