"""Adapter for CloudWatch Logs REPORT lines: what Lambda billed for each call.

Accepted shapes (what a user gets from the console or the CLI, and what the runner fetches):

- FilterLogEvents / GetLogEvents replies ``{"events": [{"message", "logStreamName"?,
  "timestamp"}...]}`` (or a list of such pages, or a bare list of events);
- plain text: exported or copied lines, optionally prefixed by a timestamp and log stream
  (``aws logs tail`` prints ``<time> <stream> <message>``);
- the text log format ``REPORT RequestId: <id>\\tDuration: 3001.02 ms\\tBilled Duration: 8208 ms\\t
  Memory Size: 128 MB\\tMax Memory Used: 40 MB\\tInit Duration: 5206.12 ms`` followed by an
  ``XRAY TraceId: ...`` line (same event, or the next line in exports);
- the JSON log format: ``{"type": "platform.report", "record": {"requestId", "metrics":
  {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"?},
  "tracing": {"value": "Root=..."}}}``; ``platform.start`` gives the version and
  ``platform.initStart`` the environment's ``initializationType``, which then applies to every
  call in that log stream (one stream per execution environment).

``START RequestId: <id> Version: <v>`` lines give the version that ran.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pclab.analysis.model import Invocation, Source, SourceFormatError
from pclab.analysis.perf import without_gc
from pclab.analysis.sources._common import (
    as_float,
    as_mapping,
    as_str,
    epoch_seconds,
    is_mapping,
    trace_root,
)

_REPORT = re.compile(r"REPORT RequestId: (?P<id>[0-9A-Za-z-]+)")
_FIELD = re.compile(
    r"(?P<key>Billed Restore Duration|Restore Duration|Billed Duration|Init Duration|"
    r"Max Memory Used|Memory Size|Duration):\s*(?P<value>[0-9.]+)\s*(?:ms|MB)"
)
# A call that did not answer: "Status: timeout" or "Status: error" with "Error Type:
# Runtime.ExitError" (Lambda's REPORT line; the JSON format's platform.report has "status" and
# "errorType", AWS Lambda developer guide, "Lambda Telemetry API Event schema reference").
_STATUS = re.compile(r"\bStatus:\s*(?P<status>[A-Za-z]+)")
_ERROR_TYPE = re.compile(r"Error Type:\s*(?P<type>[^\t\n]+?)\s*(?:\t|\n|$)")
_START = re.compile(r"START RequestId: (?P<id>[0-9A-Za-z-]+)(?:\s+Version:\s*(?P<version>\S+))?")
_XRAY = re.compile(r"XRAY TraceId:\s*(?P<trace>1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24})")
# Lambda log stream names: 2024/01/31/[$LATEST]0123abcd... or 2024/01/31/live[3]0123abcd...
_STREAM = re.compile(r"(?P<stream>\d{4}/\d{2}/\d{2}/[^\s\[\]]*\[(?P<version>[^\]]+)\][0-9a-fA-F]+)")
_LEADING_TIME = re.compile(r"^\s*(?P<time>\d{4}-\d{2}-\d{2}[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)")
_GROUP = re.compile(r"/aws/lambda/(?P<name>[A-Za-z0-9_-]+)")


@dataclass
class _Event:
    message: str
    stream: str | None
    timestamp: float | None
    group: str | None


def _events_from_mapping(page: Mapping[str, Any]) -> Iterator[_Event]:
    events = page.get("events")
    if not isinstance(events, list):
        raise SourceFormatError(
            'expected a FilterLogEvents/GetLogEvents reply {"events": [...]} or REPORT lines'
        )
    group = as_str(page.get("logGroupName"))  # a saved page may name its log group once
    for event in events:
        parsed = _event(event)
        if parsed.group is None and group is not None:
            parsed.group = group
        yield parsed


def _event(event: Any) -> _Event:
    if isinstance(event, str):
        return _Event(event, None, None, None)
    if not is_mapping(event) or not isinstance(event.get("message"), str):
        raise SourceFormatError("a log event has no 'message' string")
    return _Event(
        event["message"],
        as_str(event.get("logStreamName")),
        epoch_seconds(event.get("timestamp")),
        as_str(event.get("logGroupName")),
    )


def _events(document: Any) -> Iterator[_Event]:
    if isinstance(document, bytes):
        document = document.decode("utf-8", errors="replace")
    if isinstance(document, str):
        stripped = document.lstrip()
        if stripped.startswith("{") or stripped.startswith("["):
            try:
                parsed = json.loads(document)
            except ValueError:
                parsed = None  # JSON log lines, one record per line: read as text below
            if parsed is not None:
                yield from _events(parsed)
                return
        for line in document.splitlines():
            if line.strip():
                yield _Event(line, None, None, None)
        return
    if is_mapping(document):
        if "events" in document:
            yield from _events_from_mapping(document)
        elif "type" in document and "record" in document:
            yield _Event(json.dumps(document), None, None, None)  # one JSON-format record
        else:
            raise SourceFormatError(
                'expected a FilterLogEvents/GetLogEvents reply {"events": [...]} or REPORT lines'
            )
        return
    if isinstance(document, list):
        for entry in document:
            if is_mapping(entry) and "events" in entry:
                yield from _events_from_mapping(entry)
            elif is_mapping(entry) and "type" in entry and "record" in entry:
                yield _Event(json.dumps(entry), None, None, None)
            else:
                yield _event(entry)
        return
    raise SourceFormatError("expected log events or REPORT lines")


class _Collector:
    """Builds one record per request id, whichever order the lines come in."""

    def __init__(self) -> None:
        self.records: dict[str, Invocation] = {}
        self.stream_init_type: dict[str, str] = {}
        self.stream_function: dict[str, str] = {}
        self.last_report: Invocation | None = None

    def record(self, request_id: str) -> Invocation:
        inv = self.records.get(request_id)
        if inv is None:
            inv = self.records[request_id] = Invocation(
                request_id=request_id, sources={Source.LOGS}
            )
        return inv

    def add(self, event: _Event) -> None:
        message = event.message
        stream = event.stream
        timestamp = event.timestamp
        group = event.group
        if stream is None:
            match = _STREAM.search(message)
            stream = match.group("stream") if match else None
        if timestamp is None:
            leading = _LEADING_TIME.match(message)
            timestamp = epoch_seconds(leading.group("time")) if leading else None
        body = message.strip()
        json_start = body.find("{")
        if json_start >= 0 and '"type"' in body and '"record"' in body:
            try:
                parsed = json.loads(body[json_start:])
            except ValueError:
                parsed = None
            if is_mapping(parsed):
                self._json_record(parsed, stream, timestamp, group)
                return
        for line in message.split("\n"):
            self._text_line(line, stream, timestamp, group)

    def _label(
        self, inv: Invocation, stream: str | None, timestamp: float | None, group: str | None
    ) -> None:
        if stream and inv.log_stream is None:
            inv.log_stream = stream
            version = _STREAM.search(stream)
            if version and inv.function_version is None:
                inv.function_version = version.group("version")
        if group and inv.function_name is None:
            match = _GROUP.search(group)
            inv.function_name = match.group("name") if match else None
        if timestamp is not None and inv.reported_at is None:
            inv.reported_at = timestamp

    def _text_line(
        self, line: str, stream: str | None, timestamp: float | None, group: str | None
    ) -> None:
        # substring tests first: most lines are handler output or END lines, and a regex
        # search per line costs more than the rest of the adapter
        report = _REPORT.search(line) if "REPORT RequestId" in line else None
        if report:
            inv = self.record(report.group("id"))
            fields = {m.group("key"): float(m.group("value")) for m in _FIELD.finditer(line)}
            inv.duration_ms = fields.get("Duration")
            inv.billed_duration_ms = fields.get("Billed Duration")
            memory = fields.get("Memory Size")
            inv.memory_mb = int(memory) if memory is not None else None
            used = fields.get("Max Memory Used")
            inv.max_memory_used_mb = int(used) if used is not None else None
            # SnapStart prints Restore Duration instead: a restore is also a wait for the caller
            inv.init_duration_ms = fields.get("Init Duration", fields.get("Restore Duration"))
            if "Status:" in line:
                status = _STATUS.search(line)
                error_type = _ERROR_TYPE.search(line)
                if status and status.group("status").lower() != "success":
                    inv.error = error_type.group("type") if error_type else status.group("status")
            self._label(inv, stream, None, group)
            if timestamp is not None:
                inv.reported_at = timestamp
            self.last_report = inv
            trace = _XRAY.search(line) if "XRAY TraceId" in line else None
            if trace:
                inv.trace_id = trace.group("trace")
            return
        trace = _XRAY.search(line) if "XRAY TraceId" in line else None
        if trace and self.last_report is not None and self.last_report.trace_id is None:
            self.last_report.trace_id = trace.group("trace")
            return
        start = _START.search(line) if "START RequestId" in line else None
        if start:
            inv = self.record(start.group("id"))
            if start.group("version"):
                inv.function_version = start.group("version")
            self._label(inv, stream, None, group)

    def _json_record(
        self,
        parsed: Mapping[str, Any],
        stream: str | None,
        timestamp: float | None,
        group: str | None,
    ) -> None:
        kind = parsed.get("type")
        record = as_mapping(parsed.get("record")) or {}
        when = epoch_seconds(parsed.get("time")) or timestamp
        if kind == "platform.initStart":
            init_type = as_str(record.get("initializationType"))
            function_name = as_str(record.get("functionName"))
            if stream and init_type:
                self.stream_init_type[stream] = init_type
            if stream and function_name:
                self.stream_function[stream] = function_name
            return
        request_id = as_str(record.get("requestId"))
        if not request_id or kind not in ("platform.report", "platform.start"):
            return
        inv = self.record(request_id)
        self._label(inv, stream, None, group)
        if kind == "platform.start":
            inv.function_version = as_str(record.get("version")) or inv.function_version
            return
        metrics = as_mapping(record.get("metrics")) or {}
        inv.duration_ms = as_float(metrics.get("durationMs"))
        inv.billed_duration_ms = as_float(metrics.get("billedDurationMs"))
        memory = as_float(metrics.get("memorySizeMB"))
        inv.memory_mb = int(memory) if memory is not None else None
        used = as_float(metrics.get("maxMemoryUsedMB"))
        inv.max_memory_used_mb = int(used) if used is not None else None
        init = as_float(metrics.get("initDurationMs"))
        inv.init_duration_ms = (
            init if init is not None else as_float(metrics.get("restoreDurationMs"))
        )
        status = as_str(record.get("status"))
        if status and status != "success":
            inv.error = as_str(record.get("errorType")) or status
        tracing = as_mapping(record.get("tracing")) or {}
        inv.trace_id = trace_root(as_str(tracing.get("value")))
        if when is not None:
            inv.reported_at = when

    def finish(self) -> list[Invocation]:
        reports: list[Invocation] = []
        for inv in self.records.values():
            if inv.duration_ms is None and inv.billed_duration_ms is None:
                continue  # a START line whose REPORT is not in this document
            if inv.log_stream and inv.init_type is None:
                inv.init_type = self.stream_init_type.get(inv.log_stream)
            if inv.log_stream and inv.function_name is None:
                inv.function_name = self.stream_function.get(inv.log_stream)
            reports.append(inv)
        return reports


@without_gc
def parse_logs(document: Any) -> list[Invocation]:
    """One :class:`Invocation` per REPORT line (text or JSON log format) in ``document``.

    Returns an empty list when the document holds log events but no REPORT lines (logs may not
    have arrived yet); raises :class:`SourceFormatError` when it is not log events at all.
    """
    collector = _Collector()
    for event in _events(document):
        collector.add(event)
    return collector.finish()
