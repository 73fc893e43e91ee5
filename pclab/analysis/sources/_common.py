"""Helpers shared by the source adapters: reading JSON that may be a string, times in any AWS form.

WHY: the same document reaches us in several shapes. boto3 hands over parsed dicts with
``datetime`` timestamps; the AWS CLI v2 prints ISO 8601 strings; CLI v1 and the wire format use
epoch seconds; CloudWatch Logs uses epoch milliseconds; Step Functions nests JSON documents inside
JSON strings. The adapters call these helpers instead of guessing each time.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

from pclab.analysis.model import SourceFormatError


def load_json_text(text: str | bytes, what: str) -> Any:
    """Parse JSON, turning a parse error into a one-line :class:`SourceFormatError`."""
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise SourceFormatError(f"{what} is not valid JSON ({error})") from None


def maybe_json(value: Any) -> Any:
    """A value that may be a JSON document inside a string (Step Functions does this): parse it
    if it looks like JSON, else return it unchanged. Never raises."""
    if isinstance(value, str):
        stripped = value.lstrip()
        if stripped[:1] in ("{", "[", '"'):
            try:
                return json.loads(value)
            except ValueError:
                return value
    return value


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """isinstance(value, Mapping), dict first: the ABC check is ten times slower, and parsed
    JSON is always a dict."""
    return type(value) is dict or isinstance(value, Mapping)


def as_mapping(value: Any) -> Mapping[str, Any] | None:
    return value if is_mapping(value) else None


def epoch_seconds(value: Any) -> float | None:
    """Epoch seconds from a datetime, an ISO 8601 string, or a number (seconds or milliseconds).

    Numbers above 1e11 are taken as milliseconds: no AWS timestamp in seconds is that large before
    the year 5000, and no millisecond timestamp is that small after 1973.
    """
    kind = type(value)
    if kind is float or kind is int:  # the common cases first: this runs once per timestamp
        number = float(value)
        if not math.isfinite(number):  # Python's json reads NaN and Infinity
            return None
        return number / 1000.0 if number > 1e11 else number
    if kind is str:
        return _text_seconds(value)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return _datetime_seconds(value)
    if isinstance(value, (int, float)):
        return epoch_seconds(float(value))
    if isinstance(value, str):
        return _text_seconds(str(value))
    return None


def _datetime_seconds(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    stamp: float = value.timestamp()
    return stamp


def _text_seconds(value: str) -> float | None:
    text = value.strip()
    if not text:
        return None
    if "T" in text or "-" in text[1:]:  # ISO 8601 (a leading "-" would be a number)
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] == "Z" else text)
        except ValueError:
            return None
        return _datetime_seconds(parsed)
    try:
        return epoch_seconds(float(text))
    except ValueError:
        return None


def as_float(value: Any) -> float | None:
    """A finite number, or None (Python's json reads NaN and Infinity; report.json may not)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, str)):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def as_str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return text if text else None


_FUNCTION_ARN = re.compile(
    r"^arn:[^:]+:lambda:[^:]*:[^:]*:function:(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$"
)
_PARTIAL_ARN = re.compile(r"^(?:\d{12}:)?function:(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$")
_NAME_QUALIFIER = re.compile(r"^(?P<name>[A-Za-z0-9_-]+)(?::(?P<qualifier>[A-Za-z0-9_$-]+))?$")


@functools.lru_cache(maxsize=1024)
def split_function(reference: str | None) -> tuple[str | None, str | None]:
    """(function name, qualifier) from a function ARN, partial ARN, or ``name[:qualifier]``."""
    if not reference:
        return None, None
    for pattern in (_FUNCTION_ARN, _PARTIAL_ARN, _NAME_QUALIFIER):
        match = pattern.match(reference)
        if match:
            return match.group("name"), match.group("qualifier")
    return None, None


_TRACE_ROOT = re.compile(r"(?:^|[;\s])Root=(?P<root>1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24})")
_BARE_TRACE = re.compile(r"^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$")


def trace_root(header: str | None) -> str | None:
    """The trace id from an X-Amzn-Trace-Id header (``Root=1-...;Parent=...``) or a bare id."""
    if not header:
        return None
    if _BARE_TRACE.match(header):
        return header
    match = _TRACE_ROOT.search(header)
    return match.group("root") if match else None


def paged_entries(
    document: Any,
    key: str,
    what: str,
    valid: Callable[[Any], bool],
    invalid: str,
) -> list[Mapping[str, Any]]:
    """The ``key`` entries of an AWS list reply, of a list of its pages, or of a bare list.

    ``what`` names the reply in errors (e.g. ``'a BatchGetTraces reply {"Traces": [...]}'``);
    an entry failing ``valid`` raises ``SourceFormatError(invalid)``.
    """
    if isinstance(document, (str, bytes)):
        document = load_json_text(document, what.split(" {")[0].removeprefix("a "))
    pages: list[Any]
    if isinstance(document, Mapping):
        pages = [document]
    elif isinstance(document, list):
        all_pages = all(isinstance(p, Mapping) and key in p for p in document)
        pages = document if all_pages else [{key: document}]
    else:
        raise SourceFormatError(f"expected {what}")
    entries: list[Mapping[str, Any]] = []
    for page in pages:
        page_entries = page.get(key) if isinstance(page, Mapping) else None
        if not isinstance(page_entries, list):
            raise SourceFormatError(f"expected {what}")
        for entry in page_entries:
            if not valid(entry):
                raise SourceFormatError(invalid)
            entries.append(entry)
    return entries


# Lambda names the request in the message of errors its runtime did not write itself: a killed
# or exited runtime ("RequestId: <id> Error: Runtime exited with error: signal: killed") and a
# timeout ("RequestId: <id> Error: Task timed out after 3.00 seconds", older runtimes
# "<ISO time> <id> Task timed out after 3.00 seconds"). A handler's own error document carries
# "requestId"; an init error's is "" (no invocation had started).
_MESSAGE_REQUEST_ID = re.compile(
    r"RequestId:\s*(?P<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12})"
    r"|^\S+Z\s+(?P<old>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12})\s+Task timed out"
)


def error_request_id(cause: Any) -> str | None:
    """The Lambda request id an error's Cause names: the error document's ``requestId``, else
    the ``RequestId: <id>`` Lambda writes into ``errorMessage``; None when it names none."""
    parsed = maybe_json(cause)
    if is_mapping(parsed):
        named = as_str(parsed.get("requestId"))
        if named:
            return named
        parsed = parsed.get("errorMessage")
    if not isinstance(parsed, str):
        return None
    match = _MESSAGE_REQUEST_ID.search(parsed)
    if match is None:
        return None
    return match.group("id") or match.group("old")
