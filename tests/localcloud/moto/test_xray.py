"""Guards pclab/localcloud/moto/xray.py: the X-Ray half of the telemetry sink and the queries."""

from __future__ import annotations

import json
import time

from localcloud.cloud_helpers import ACCOUNT, REGION, Cloud
from localcloud.moto.guard import guard_tests
from pclab.localcloud.moto import MotoTelemetrySink
from pclab.localcloud.moto.stepfunctions import new_trace_id
from pclab.localcloud.moto.xray import segment_document

RESPONSES = "moto.xray.responses.XRayResponse"

# (owner, attribute) -> leading parameters of moto's original
PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    (RESPONSES, "trace_summaries"): ["self"],
    (RESPONSES, "service_graph"): ["self"],
    (RESPONSES, "trace_graph"): ["self"],
    ("moto.xray.models.SegmentCollection", "put_segment"): ["self", "segment"],
}

# (module, dotted attribute) read without replacing
READ_INTERNALS = [
    ("moto.xray.models", "xray_backends"),
    ("moto.xray.models", "XRayBackend.process_segment"),
    ("moto.xray.responses", "XRayResponse.xray_backend"),
    ("moto.xray.responses", "XRayResponse._get_param"),
]


test_patched_internal_keeps_its_shape, test_read_internal_exists = guard_tests(
    PATCHED_SIGNATURES, READ_INTERNALS
)


def test_stored_segments_give_back_the_documents_sent(cloud: Cloud) -> None:
    """SegmentCollection._traces and TraceSegment's attributes (+ misc) rebuild each document."""
    from moto.xray.models import xray_backends

    trace_id, start = new_trace_id(), time.time()
    sent = {
        "name": "fn",
        "id": "00000000000000a1",
        "trace_id": trace_id,
        "start_time": start,
        "end_time": start + 0.1,
        "origin": "AWS::Lambda::Function",
        "parent_id": "00000000000000b2",
        "type": "segment",
        "http": {"response": {"status": 200}},
        "aws": {"request_id": "r1"},
        "annotations": {"cold_start": True},
        "metadata": {"m": 1},
        "user": "u",
        "service": {"version": "1"},
        "error": True,
        "subsegments": [
            {"id": "00000000000000c3", "name": "work", "start_time": start, "end_time": start}
        ],
    }
    MotoTelemetrySink().put_trace_segments([json.dumps(sent)])
    stored = xray_backends[ACCOUNT][REGION]._segment_collection._traces[trace_id]
    (segment,) = stored["segments"]
    assert segment_document(segment) == sent
