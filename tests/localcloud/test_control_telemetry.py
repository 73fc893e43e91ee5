"""What execution environments hand the telemetry sink is readable through the AWS APIs."""

from __future__ import annotations

import json
import time

from localcloud.cloud_helpers import Cloud
from pclab.localcloud.moto import MotoTelemetrySink
from pclab.localcloud.moto.stepfunctions import new_trace_id


def test_log_events_land_in_their_group_and_stream(cloud: Cloud) -> None:
    sink = MotoTelemetrySink()
    now = int(time.time() * 1000)
    group = "/aws/lambda/telemetry-test"
    stream = "2026/11/26/[1]abcdef"
    # out of order on purpose: an environment's pipe and its platform lines interleave
    sink.put_log_events(
        group, stream, [(now + 2, "END RequestId: r1"), (now, "START RequestId: r1")]
    )
    sink.put_log_events(group, stream, [(now + 3, "REPORT RequestId: r1\tDuration: 1.00 ms\t")])
    logs = cloud.client("logs")
    events = logs.filter_log_events(logGroupName=group, filterPattern="RequestId")["events"]
    assert [e["message"].split(" ")[0] for e in events] == ["START", "END", "REPORT"]
    assert {e["logStreamName"] for e in events} == {stream}


def test_trace_segments_are_readable_by_trace_id(cloud: Cloud) -> None:
    sink = MotoTelemetrySink()
    trace_id = new_trace_id()
    start = time.time()
    segment = {
        "name": "fn",
        "id": "1234567890abcdef",
        "trace_id": trace_id,
        "start_time": start,
        "end_time": start + 0.5,
        "origin": "AWS::Lambda",
    }
    sink.put_trace_segments([json.dumps(segment), "not json"])  # a bad one must not lose the other
    traces = cloud.client("xray").batch_get_traces(TraceIds=[trace_id])["Traces"]
    assert [json.loads(s["Document"])["id"] for t in traces for s in t["Segments"]] == [
        "1234567890abcdef"
    ]
