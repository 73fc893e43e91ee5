"""CloudWatch Logs Insights for the local cloud: a query string and log events in, results out.

:func:`run_query` answers what StartQuery + GetQueryResults answer on AWS (API reference,
"GetQueryResults"): ``results``, a list of rows, each a list of ``{"field", "value"}`` with every
value a string (times as ``2019-03-05 19:03:24.000``; fields an event lacks are left out of its
row; rows of events end with ``@ptr``), and ``statistics`` {``recordsMatched``,
``recordsScanned``, ``bytesScanned``}. A query the local cloud cannot run raises
:class:`MalformedQueryError` (AWS's MalformedQueryException: a message and
``queryCompileError.location``), never a silently different answer.

Log events are dicts as the local cloud stores them: ``timestamp`` and ``ingestionTime`` (epoch
milliseconds), ``message``, ``logStream``, ``logGroup`` and optionally ``eventId``. Imports the
``insights_*`` modules only: no moto, so the engine is tested and benchmarked on its own.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .insights_exec import execute
from .insights_fields import Record, Row, format_value
from .insights_parser import MalformedQueryError, parse_query

DEFAULT_LIMIT = 10_000  # StartQuery: at most 10,000 events per GetQueryResults page
DEFAULT_ACCOUNT = "123456789012"  # moto's default account: @log is "account-id:log-group"


@dataclass
class QueryResult:
    """GetQueryResults' answer for a query that ran (``status`` is always Complete)."""

    results: list[list[dict[str, str]]]
    statistics: dict[str, float]
    status: str = "Complete"
    fields: list[str] = field(default_factory=list)  # the columns, in order

    def as_aws(self) -> dict[str, Any]:
        return {"results": self.results, "statistics": self.statistics, "status": self.status}

    def table(self) -> list[dict[str, str]]:
        """The rows as {field: value} dicts (for tests and reports)."""
        return [{cell["field"]: cell["value"] for cell in row} for row in self.results]


def _pointer(event: Mapping[str, Any], index: int) -> str:
    """An opaque @ptr: which event of which stream of which group this row came from."""
    ident = event.get("eventId", index)
    group = event.get("logGroup", event.get("logGroupName", ""))
    stream = event.get("logStream", event.get("logStreamName", ""))
    raw = f"{group}\t{stream}\t{ident}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def run_query(
    query: str,
    events: Iterable[Mapping[str, Any]],
    *,
    account_id: str = DEFAULT_ACCOUNT,
    limit: int | None = None,
) -> QueryResult:
    """Run one Logs Insights query over the events of the queried log groups and time range.

    ``limit`` is StartQuery's ``limit`` (at most this many rows; default 10,000).
    """
    commands = parse_query(query)
    scanned: list[Row] = []
    scanned_bytes = 0
    logs: dict[str, str] = {}
    for index, event in enumerate(events):
        group = event.get("logGroup")
        if group is None:
            group = event.get("logGroupName", "")
        log = logs.get(group)
        if log is None:
            log = logs[group] = f"{account_id}:{group}"
        scanned.append(Record(event, log, index))
        message = event.get("message") or ""
        scanned_bytes += len(message) if message.isascii() else len(message.encode("utf-8"))
    outcome = execute(commands, scanned)
    rows = outcome.rows[: limit if limit is not None else DEFAULT_LIMIT]
    results: list[list[dict[str, str]]] = []
    for row in rows:
        cells = []
        for name in outcome.columns:
            text = format_value(row.get(name))
            if text is not None:
                cells.append({"field": name, "value": text})
        if isinstance(row, Record):
            cells.append({"field": "@ptr", "value": _pointer(row.event, row.index)})
        results.append(cells)
    statistics = {
        "recordsMatched": float(outcome.matched),
        "recordsScanned": float(len(scanned)),
        "bytesScanned": float(scanned_bytes),
    }
    return QueryResult(results, statistics, fields=list(outcome.columns))


__all__ = ["DEFAULT_LIMIT", "MalformedQueryError", "QueryResult", "run_query"]
