"""Guards pclab/localcloud/moto/logs.py: the Logs half of the telemetry sink and StartQuery."""

from __future__ import annotations

import time

from localcloud.cloud_helpers import ACCOUNT, REGION, Cloud
from localcloud.moto.guard import guard_tests
from pclab.localcloud.moto import MotoTelemetrySink

# (owner, attribute) -> leading parameters of moto's original
PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    ("moto.logs.responses.LogsResponse", "start_query"): ["self"],
}

# (module, dotted attribute) read without replacing
READ_INTERNALS = [
    ("moto.logs.models", "logs_backends"),
    ("moto.logs.models", "LogsBackend.create_log_group"),
    ("moto.logs.models", "LogsBackend.create_log_stream"),
    ("moto.logs.models", "LogsBackend.put_log_events"),
    ("moto.logs.models", "LogQuery.to_json"),
    ("moto.logs.models", "LogQuery.to_result_json"),
    ("moto.logs.exceptions", "ResourceNotFoundException"),
    ("moto.logs.exceptions", "InvalidParameterException"),
    ("moto.logs.responses", "LogsResponse.logs_backend"),
]


test_patched_internal_keeps_its_shape, test_read_internal_exists = guard_tests(
    PATCHED_SIGNATURES, READ_INTERNALS
)


def test_stored_events_have_the_fields_we_read(cloud: Cloud) -> None:
    """LogGroup.streams, LogStream.log_stream_name/events, LogEvent's fields, backend.queries."""
    from moto.logs.models import logs_backends

    now = int(time.time() * 1000)
    MotoTelemetrySink().put_log_events("/guard/logs", "stream-1", [(now, "hello")])
    backend = logs_backends[ACCOUNT][REGION]
    stream = backend.groups["/guard/logs"].streams["stream-1"]
    (event,) = stream.events
    assert stream.log_stream_name == "stream-1"
    assert (event.timestamp, event.message) == (now, "hello")
    assert isinstance(event.ingestion_time, int) and isinstance(event.event_id, int)
    assert isinstance(backend.queries, dict)
    # GetQueryResults / DescribeQueries read these of what StartQuery stored
    query_id = cloud.client("logs").start_query(
        logGroupName="/guard/logs", startTime=now // 1000, endTime=now // 1000,
        queryString="fields @message",
    )["queryId"]  # fmt: skip
    stored = backend.queries[query_id]
    assert stored.log_group_names == ["/guard/logs"] and stored.status == "Complete"
