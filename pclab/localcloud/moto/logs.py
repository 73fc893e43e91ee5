"""CloudWatch Logs: the log half of the telemetry sink, and Logs Insights queries.

moto 5.2.5's StartQuery keeps only ``fields``/``sort``/``limit`` of a query and ignores
``filter``, ``stats`` and ``parse``: AWS's cold-start query answers "Complete" with one
meaningless row. We run the query with :mod:`pclab.localcloud.queries` (its engine, tested on its
own) when it starts, and hand moto a finished query that GetQueryResults and DescribeQueries read.

moto internals patched, and why:

* ``LogsResponse.start_query`` (StartQuery): the request's log groups (``logGroupName``,
  ``logGroupNames`` or ``logGroupIdentifiers``, names or ARNs), ``startTime``..``endTime`` (epoch
  seconds, the end second included, as AWS's "the range is inclusive"), ``queryString`` and
  ``limit`` are all read there; a query the engine cannot run is a 400
  ``MalformedQueryException`` with ``queryCompileError.location``, as AWS answers.

moto internals read, and why:

* ``moto.logs.models.logs_backends[account][region]`` and its ``groups[name].streams``
  (``LogStream.log_stream_name``, ``LogStream.events``: ``LogEvent.timestamp``,
  ``ingestion_time``, ``message``, ``event_id``): the events a query scans;
* ``LogsBackend.queries``: query id -> query; GetQueryResults calls its ``to_result_json()``
  and DescribeQueries its ``to_json(group)`` and reads ``log_group_names`` and ``status``, so
  :class:`FinishedQuery` offers those;
* ``LogsBackend.create_log_group`` / ``create_log_stream`` / ``put_log_events``: the sink's
  writes (an execution environment's log lines go to its own stream, as on Lambda; in-process, no
  HTTP round trip per batch);
* ``moto.logs.exceptions.ResourceNotFoundException`` / ``InvalidParameterException``: AWS's
  answers for an unknown group or a bad request;
* ``LogsResponse.logs_backend``, ``_get_param``, ``current_account``.

StopQuery is not served (moto has none, and a query here is complete when StartQuery returns).
Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from pclab.localcloud.moto._patching import _patch
from pclab.localcloud.queries import MalformedQueryError, QueryResult, run_query


class LogEventWriter:
    """``put_log_events`` of :class:`~pclab.localcloud.moto.MotoTelemetrySink`."""

    def __init__(self, account_id: str, region: str, lock: threading.Lock) -> None:
        self.account_id = account_id
        self.region = region
        self._lock = lock  # keeps appends to a stream ordered

    def put_log_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        from moto.logs.models import logs_backends

        if not events:
            return
        backend = logs_backends[self.account_id][self.region]
        with self._lock:
            if group not in backend.groups:
                backend.create_log_group(group, {})
            if stream not in backend.groups[group].streams:
                backend.create_log_stream(group, stream)
            ordered = sorted(events, key=lambda e: e[0])
            backend.put_log_events(
                group, stream, [{"timestamp": ts, "message": msg} for ts, msg in ordered]
            )


class FinishedQuery:
    """What moto's GetQueryResults / DescribeQueries read of a query (moto's LogQuery's face)."""

    def __init__(self, query: str, group_names: list[str], result: QueryResult) -> None:
        self.query_id = str(uuid.uuid4())
        self.query = query
        self.log_group_names = group_names
        self.result = result
        self.status = result.status
        self.create_time_ms = int(time.time() * 1000)

    def to_json(self, log_group_name: str) -> dict[str, Any]:
        return {
            "queryId": self.query_id,
            "queryString": self.query,
            "status": self.status,
            "createTime": self.create_time_ms,
            "logGroupName": log_group_name,
        }

    def to_result_json(self) -> dict[str, Any]:
        return self.result.as_aws()


def group_name(identifier: str) -> str:
    """A log group's name from its name or ARN (``arn:aws:logs:r:a:log-group:NAME[:*]``)."""
    if not identifier.startswith("arn:"):
        return identifier
    _, _, rest = identifier.partition(":log-group:")
    return rest[:-2] if rest.endswith(":*") else rest


def _requested_groups(response: Any) -> list[str]:
    from moto.logs.exceptions import InvalidParameterException

    given = {
        key: value
        for key in ("logGroupName", "logGroupNames", "logGroupIdentifiers")
        if (value := response._get_param(key))
    }
    if len(given) != 1:
        raise InvalidParameterException(
            "Specify exactly one of logGroupName, logGroupNames and logGroupIdentifiers"
        )
    key, value = next(iter(given.items()))
    names = [value] if key == "logGroupName" else list(value)
    return [group_name(str(n)) for n in names]


def _events(backend: Any, names: list[str], start_ms: int, end_ms: int) -> Iterator[dict[str, Any]]:
    """The groups' events in [start_ms, end_ms] (copies of moto's lists: the sink appends)."""
    for name in names:
        group = backend.groups[name]
        for stream in list(group.streams.values()):
            stream_name = stream.log_stream_name
            for event in list(stream.events):
                if start_ms <= event.timestamp <= end_ms:
                    yield {
                        "timestamp": event.timestamp,
                        "ingestionTime": event.ingestion_time,
                        "message": event.message,
                        "logStream": stream_name,
                        "logGroup": name,
                        "eventId": str(event.event_id),
                    }


def _malformed(error: MalformedQueryError) -> tuple[str, dict[str, Any]]:
    body = {"__type": "MalformedQueryException", **error.as_aws()}
    return json.dumps(body), {"status": 400, "x-amzn-ErrorType": "MalformedQueryException"}


def start_query(self: Any) -> str | tuple[str, dict[str, Any]]:
    """StartQuery, run to completion: GetQueryResults then answers ``Complete`` at once."""
    from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException

    names = _requested_groups(self)
    query = self._get_param("queryString")
    start, end, limit = (self._get_param(k) for k in ("startTime", "endTime", "limit"))
    if not isinstance(query, str) or start is None or end is None:
        raise InvalidParameterException("queryString, startTime and endTime are required")
    if int(end) < int(start):
        raise InvalidParameterException("endTime must not be before startTime")
    backend = self.logs_backend
    for name in names:
        if name not in backend.groups:
            raise ResourceNotFoundException(
                f"Log group '{name}' does not exist for account ID '{self.current_account}'"
            )
    events = _events(backend, names, int(start) * 1000, int(end) * 1000 + 999)
    try:
        result = run_query(
            query,
            events,
            account_id=self.current_account,
            limit=int(limit) if limit is not None else None,
        )
    except MalformedQueryError as error:
        return _malformed(error)
    finished = FinishedQuery(query, names, result)
    backend.queries[finished.query_id] = finished
    return json.dumps({"queryId": finished.query_id})


def _install_logs() -> None:
    from moto.logs.responses import LogsResponse

    _patch(LogsResponse, "start_query", start_query)
