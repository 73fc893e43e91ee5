"""Guards pclab/localcloud/moto/xray.py: the X-Ray half of the telemetry sink and the queries."""

from __future__ import annotations

import json
import time

import pytest

from localcloud.cloud_helpers import ACCOUNT, REGION, Cloud
from localcloud.moto.guard import (
    assert_patched_internal_keeps_its_shape,
    assert_read_internal_exists,
)
from pclab.localcloud.moto import MotoTelemetrySink
from pclab.localcloud.moto.stepfunctions import new_trace_id

RESPONSES = "moto.xray.responses.XRayResponse"

# (owner, attribute) -> leading parameters of moto's original
PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    (RESPONSES, "trace_summaries"): ["self"],
    (RESPONSES, "service_graph"): ["self"],
    (RESPONSES, "trace_graph"): ["self"],
}

# (module, dotted attribute) read without replacing
READ_INTERNALS = [
    ("moto.xray.models", "xray_backends"),
    ("moto.xray.models", "XRayBackend.process_segment"),
    ("moto.xray.responses", "XRayResponse.xray_backend"),
    ("moto.xray.responses", "XRayResponse._get_param"),
]


@pytest.mark.parametrize("key", sorted(PATCHED_SIGNATURES), ids=lambda k: f"{k[0]}.{k[1]}")
def test_patched_internal_keeps_its_shape(cloud: Cloud, key: tuple[str, str]) -> None:
    assert_patched_internal_keeps_its_shape(key, PATCHED_SIGNATURES[key])


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)


def test_stored_segments_have_the_fields_we_read(cloud: Cloud) -> None:
    """SegmentCollection._traces and TraceSegment's id/end_time/raw, behind stored_traces()."""
    from moto.xray.models import xray_backends

    trace_id, start = new_trace_id(), time.time()
    document = json.dumps(
        {"name": "fn", "id": "00000000000000a1", "trace_id": trace_id, "start_time": start,
         "end_time": start + 0.1}
    )  # fmt: skip
    MotoTelemetrySink().put_trace_segments([document])
    stored = xray_backends[ACCOUNT][REGION]._segment_collection._traces[trace_id]
    (segment,) = stored["segments"]
    assert (segment.id, segment.end_time, segment.raw) == (
        "00000000000000a1",
        start + 0.1,
        document,
    )
