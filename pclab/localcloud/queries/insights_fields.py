"""The fields Logs Insights discovers in a log event, and how it prints and sorts values.

From the CloudWatch Logs user guide, "Supported logs and discovered fields":

- every event has ``@message``, ``@timestamp``, ``@ingestionTime``, ``@logStream`` and ``@log``
  (``account-id:log-group-name``);
- Lambda's platform lines (text log format) give ``@type`` (START, END, REPORT), ``@requestId``
  and, on REPORT lines, ``@duration``, ``@billedDuration``, ``@memorySize``, ``@maxMemoryUsed``,
  ``@initDuration`` (cold starts only), and ``@xrayTraceId``/``@xraySegmentId`` when the line
  carries an X-Ray trace. Memory is discovered in bytes (MB x 1,000,000: GetQueryResults shows
  ``"@memorySize": "512000000"`` for ``Memory Size: 512 MB``, and AWS's sample queries divide by
  1000 twice), durations in milliseconds;
- JSON events (and the first JSON fragment of a Lambda text line) give their keys, nested ones
  in dot notation (``userIdentity.type``), array items by index (``items.0.instanceId``), at most
  100 fields; a key starting with ``@`` is shown with a second ``@``. Lambda's JSON log format
  (``{"type": "platform.report", "record": {...}}``) is such an event: its fields are ``type``,
  ``record.requestId``, ``record.metrics.durationMs`` ... (the ``@duration`` family is
  documented for the text format only, so it is not synthesised from JSON here).

Discovery is lazy: a field is worked out the first time a query reads it, so a query that only
counts events never parses a message. Imports only the standard library.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

MAX_JSON_FIELDS = 100  # "CloudWatch Logs Insights can extract a maximum of 100 log event fields"
_MB = 1_000_000


class Timestamp(int):
    """Milliseconds since the epoch, printed as Logs Insights prints times."""

    __slots__ = ()


LAMBDA_FIELDS = frozenset(
    {
        "@type",
        "@requestId",
        "@duration",
        "@billedDuration",
        "@memorySize",
        "@maxMemoryUsed",
        "@initDuration",
        "@xrayTraceId",
        "@xraySegmentId",
    }
)
_START_END = re.compile(r"^(START|END) RequestId: (\S+)")


def _int_or_float(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() else number


# REPORT RequestId: id\tDuration: 3001.02 ms\tBilled Duration: 8208 ms\tMemory Size: 128 MB
# \tMax Memory Used: 40 MB\tInit Duration: 5206.12 ms\t\nXRAY TraceId: ...\tSegmentId: ...
# Each field is found by its label (a tab or a newline before it, so "Duration" is not "Billed
# Duration"): a query reading one field pays for that field alone.
_REPORT_LABELS: dict[str, tuple[str, Any]] = {
    "@requestId": ("REPORT RequestId: ", str),
    "@duration": ("\tDuration: ", float),
    "@billedDuration": ("\tBilled Duration: ", _int_or_float),
    "@memorySize": ("\tMemory Size: ", lambda v: _int_or_float(v) * _MB),
    "@maxMemoryUsed": ("\tMax Memory Used: ", lambda v: _int_or_float(v) * _MB),
    "@initDuration": ("\tInit Duration: ", float),
    "@xrayTraceId": ("\nXRAY TraceId: ", str),
    "@xraySegmentId": ("\tSegmentId: ", str),
}


def lambda_type(message: str) -> str | None:
    """@type of a Lambda platform line: REPORT, START or END (None for other lines)."""
    if message.startswith("REPORT RequestId:"):
        return "REPORT"
    if message.startswith("START RequestId:"):
        return "START"
    if message.startswith("END RequestId:"):
        return "END"
    return None


def lambda_field(message: str, name: str) -> Any:
    """One @-field Logs Insights discovers in a Lambda platform line (text format), or None."""
    if message.startswith("REPORT RequestId:"):  # lambda_type, inlined: once per row
        kind: str | None = "REPORT"
    else:
        kind = lambda_type(message)
    if name == "@type" or kind is None:
        return kind
    if kind != "REPORT":
        if name != "@requestId":
            return None
        match = _START_END.match(message)
        return match.group(2) if match else None
    label, convert = _REPORT_LABELS[name]
    at = message.find(label)
    if at < 0:
        return None
    start = at + len(label)
    ends = [e for e in (message.find("\t", start), message.find("\n", start)) if e >= 0]
    text = (
        message[start : min(ends) if ends else len(message)]
        .removesuffix(" ms")
        .removesuffix(" MB")
        .strip()
    )
    try:
        return convert(text)
    except ValueError:
        return None  # a value Lambda never writes: leave the field out


def lambda_fields(message: str) -> dict[str, Any]:
    """Every @-field Logs Insights discovers in one Lambda platform line (text format)."""
    found = {name: lambda_field(message, name) for name in LAMBDA_FIELDS}
    return {name: value for name, value in found.items() if value is not None}


def flatten_json(document: Any) -> dict[str, Any]:
    """A JSON document's fields as Logs Insights names them (dots, array indexes, ``@@``)."""
    found: dict[str, Any] = {}

    def walk(value: Any, path: str) -> None:
        if len(found) >= MAX_JSON_FIELDS:
            return
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(
                    inner, f"{path}.{key}" if path else (f"@{key}" if key.startswith("@") else key)
                )
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                walk(inner, f"{path}.{index}" if path else str(index))
        elif path:
            if isinstance(value, bool):
                found[path] = "true" if value else "false"  # JSON text as written
            elif value is not None:
                found[path] = value

    walk(document, "")
    return found


def json_fields(message: str) -> dict[str, Any]:
    """Fields of the first JSON object in the message (the whole message, or a Lambda line's)."""
    start = message.find("{")
    if start < 0:
        return {}
    try:
        document, _ = json.JSONDecoder().raw_decode(message, start)
    except ValueError:
        return {}
    return flatten_json(document) if isinstance(document, Mapping) else {}


def _stamp(value: Any) -> Timestamp | None:
    return Timestamp(value) if value is not None else None


_SYSTEM: dict[str, Any] = {
    "@message": lambda r: r.event.get("message"),
    "@timestamp": lambda r: _stamp(r.event.get("timestamp")),
    # the local cloud's key, or FilterLogEvents' spelling
    "@logStream": lambda r: r.event.get("logStream", r.event.get("logStreamName")),
    "@log": lambda r: r.log,
    "@ingestionTime": lambda r: _stamp(r.event.get("ingestionTime")),
}


class Record:
    """One log event during a query: discovered fields on demand, plus the query's own fields."""

    __slots__ = ("_json_done", "event", "index", "log", "values")

    def __init__(self, event: Mapping[str, Any], log: str, index: int = 0) -> None:
        self.event = event
        self.log = log  # "account-id:log-group-name"
        self.index = index  # the event's position in the query's input
        self.values: dict[str, Any] = {}
        self._json_done = False

    def get(self, name: str) -> Any:
        values = self.values
        if name in values:
            return values[name]
        if name in LAMBDA_FIELDS:  # here rather than in _discover: the hot path of REPORT queries
            value = values[name] = lambda_field(self.event.get("message") or "", name)
            return value  # remembered, absent ones too: worked out once per event
        return self._discover(name)

    def set(self, name: str, value: Any) -> None:
        self.values[name] = value

    def _discover(self, name: str) -> Any:
        system = _SYSTEM.get(name)
        if system is not None:
            return system(self)
        if not self._json_done:
            self._json_done = True
            for key, value in json_fields(str(self.event.get("message", ""))).items():
                self.values.setdefault(key, value)
            return self.values.get(name)
        return None


class ResultRow(dict[str, Any]):
    """A row after ``stats``: its fields are the groups and the statistics."""

    def set(self, name: str, value: Any) -> None:
        self[name] = value


Row = Record | ResultRow


# --- printing ----------------------------------------------------------------------------------
def format_timestamp(millis: int) -> str:
    """``2019-03-05 19:03:24.000``: UTC to the millisecond, as GetQueryResults returns it."""
    seconds, ms = divmod(int(millis), 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}"


def format_value(value: Any) -> str | None:
    """A value as GetQueryResults prints it (None: the field is left out of the row).

    Whole numbers print without a decimal point (``"512000000"``, ``"3"`` in recorded results);
    other numbers with up to 15 significant digits.
    """
    if value is None:
        return None
    if isinstance(value, Timestamp):
        return format_timestamp(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        # 15 significant digits: what a double holds exactly, without sums' binary noise
        # (an average of 5206.12 and 5100 prints 5153.06, not 5153.0599999999995).
        return f"{value:.15g}"
    return str(value)


# --- sorting -----------------------------------------------------------------------------------
_CHUNKS = re.compile(r"\d+|\D+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def sort_key(value: Any) -> tuple[Any, ...]:
    """Logs Insights' natural sort ("sort" page of the guide), ascending.

    Non-number values come before numbers; within them, runs of digits compare by length and
    then value, other runs by Unicode order; numbers compare by value. Missing values go last.
    """
    if value is None:
        return (2,)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, float(value))
    text = str(value)
    if _NUMBER.fullmatch(text):
        return (1, float(text))
    chunks: list[tuple[int, Any, Any]] = []
    for chunk in _CHUNKS.findall(text):
        if chunk[0].isdigit():
            chunks.append((0, len(chunk), int(chunk)))
        else:
            chunks.append((0, chunk, 0))
    return (0, _comparable(chunks))


def _comparable(chunks: list[tuple[int, Any, Any]]) -> tuple[Any, ...]:
    # A digit run and a text run at the same place compare by their characters' Unicode order.
    out: list[tuple[str, int, int]] = []
    for _, first, second in chunks:
        if isinstance(first, int):  # digits: (length, value); "0" sorts by its first character
            out.append(("0", first, second))
        else:
            out.append((first, 0, 0))
    return tuple(out)
