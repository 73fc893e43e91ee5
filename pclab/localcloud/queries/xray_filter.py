"""X-Ray filter expressions: parsed with lark, compiled to a predicate over a :class:`Trace`.

The language is the one the X-Ray developer guide documents in "Use filter expressions"
(docs.aws.amazon.com/xray/latest/devguide/xray-console-filters.html):

- ``keyword operator value``; boolean keywords alone (``ok``, ``!partial``); ``AND``, ``OR``,
  ``NOT``/``!`` in any letter case, parentheses, and juxtaposition as AND (the guide's example
  ``ok !partial duration <3``);
- boolean keywords ``ok`` ``error`` ``fault`` ``throttle`` ``partial`` (``inferred`` and ``root``
  inside a service filter); number keywords ``responsetime`` ``duration`` ``http.status`` with
  ``= != < <= > >=``; string keywords ``http.url`` ``http.method`` ``http.useragent``
  ``http.clientip`` ``user`` ``resource.arn`` ``availabilityzone`` ``instance.id`` (and ``name``,
  ``type`` inside a service filter) with ``= != CONTAINS BEGINSWITH ENDSWITH``; a keyword alone is
  true when it is set;
- ``annotation.KEY`` (or ``annotation[KEY]``) with the operators of its value's type, alone
  (is set) or negated (is not set); not inside ``service``/``edge`` braces, as the guide says;
- ``service(name) {filter}``, ``service()``, ``service(id(name: "x", type: "T"))``,
  ``edge(a, b) {filter}``: the braces' filter applies to the segments of that service or on that
  connection (the called segment).

Simple keywords are trace-level, as the guide says ("simple keywords and operators find issues
only at the trace level"): ``responsetime`` is the root segment's, ``duration`` the whole
trace's, ``error``/``fault``/``ok`` the root segment's status, ``throttle``/``partial`` true when
any segment is. The root-cause keywords (``rootcause.*``, ``json``, ``group.*``, ``coverage``,
``index``, ``first``, ``last``, ``remote``, ``message``) are refused with a
:class:`FilterExpressionError` rather than ignored: the local cloud computes no root causes.

Parsing is :mod:`.xray_filter_parser`'s; this module imports it and :mod:`.xray_trace` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .xray_filter_parser import (
    AllOf,
    AnyOf,
    Comparison,
    FilterExpressionError,
    Node,
    Not,
    ServiceFilter,
    parse_filter,
)
from .xray_trace import Document, Segment, Trace, http_request

# --- keywords --------------------------------------------------------------------------------
Values = Callable[[Trace, Segment | None], Sequence[Any]]

_UNSUPPORTED = {
    "rootcause",
    "json",
    "group",
    "coverage",
    "index",
    "first",
    "last",
    "remote",
    "message",
}


def _subject(trace: Trace, seg: Segment | None) -> Segment | None:
    """Inside braces the segment itself; at trace level the root segment."""
    return seg if seg is not None else trace.root


def _one(value: Any) -> Sequence[Any]:
    return () if value is None else (value,)


def _flag(name: str) -> Values:
    def values(trace: Trace, seg: Segment | None) -> Sequence[Any]:
        subject = _subject(trace, seg)
        return () if subject is None else (bool(getattr(subject, name)),)

    return values


def _throttle(trace: Trace, seg: Segment | None) -> Sequence[Any]:
    return (seg.throttle,) if seg is not None else (trace.has_throttle,)


def _partial(trace: Trace, seg: Segment | None) -> Sequence[Any]:
    return (seg.in_progress,) if seg is not None else (trace.is_partial,)


def _inferred(trace: Trace, seg: Segment | None) -> Sequence[Any]:
    if seg is not None:
        return (seg.inferred,)
    return (any(s.inferred for s in trace.all_segments),)


def _responsetime(trace: Trace, seg: Segment | None) -> Sequence[Any]:
    subject = _subject(trace, seg)
    return () if subject is None else _one(subject.response_time)


def _duration(trace: Trace, seg: Segment | None) -> Sequence[Any]:
    return _one(seg.response_time) if seg is not None else _one(trace.duration)


def _http_status(trace: Trace, seg: Segment | None) -> Sequence[Any]:
    subject = _subject(trace, seg)
    return () if subject is None or subject.status is None else (float(subject.status),)


def _request_field(name: str) -> Values:
    def values(trace: Trace, seg: Segment | None) -> Sequence[Any]:
        subject = _subject(trace, seg)
        value = http_request(subject.doc).get(name) if subject is not None else None
        return () if value is None else (str(value),)

    return values


def _any_segment(path: tuple[str, ...]) -> Values:
    """A field on any segment of the trace (``user``, ``resource.arn``, ...)."""

    def read(doc: Document) -> Any:
        value: Any = doc
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    def values(trace: Trace, seg: Segment | None) -> Sequence[Any]:
        segments = (seg,) if seg is not None else trace.segments
        return tuple(str(v) for v in (read(s.doc) for s in segments) if v not in (None, ""))

    return values


def _root(trace: Trace, seg: Segment | None) -> Sequence[Any]:
    return (seg is trace.root,)


def _name(trace: Trace, seg: Segment | None) -> Sequence[Any]:
    return (seg.service.name,) if seg is not None else ()


def _type(trace: Trace, seg: Segment | None) -> Sequence[Any]:
    return _one(seg.service.type) if seg is not None else ()


# keyword → (kind, values, allowed at trace level, allowed inside braces)
_KEYWORDS: dict[str, tuple[str, Values, bool, bool]] = {
    "ok": ("boolean", _flag("ok"), True, True),
    "error": ("boolean", _flag("error"), True, True),
    "fault": ("boolean", _flag("fault"), True, True),
    "throttle": ("boolean", _throttle, True, True),
    "partial": ("boolean", _partial, True, True),
    "inferred": ("boolean", _inferred, True, True),
    "root": ("boolean", _root, False, True),
    "responsetime": ("number", _responsetime, True, True),
    "duration": ("number", _duration, True, True),
    "http.status": ("number", _http_status, True, True),
    "http.url": ("string", _request_field("url"), True, True),
    "http.method": ("string", _request_field("method"), True, True),
    "http.useragent": ("string", _request_field("user_agent"), True, True),
    "http.clientip": ("string", _request_field("client_ip"), True, True),
    "user": ("string", _any_segment(("user",)), True, True),
    "resource.arn": ("string", _any_segment(("resource_arn",)), True, True),
    "availabilityzone": ("string", _any_segment(("aws", "ec2", "availability_zone")), True, True),
    "instance.id": ("string", _any_segment(("aws", "ec2", "instance_id")), True, True),
    "name": ("string", _name, False, True),
    "type": ("string", _type, False, True),
}

_OPERATORS = {
    "boolean": ("=", "!="),
    "number": ("=", "!=", "<", "<=", ">", ">="),
    "string": ("=", "!=", "CONTAINS", "BEGINSWITH", "ENDSWITH"),
}


_NUMBER_TESTS: dict[str, Callable[[float, float], bool]] = {
    "=": float.__eq__,
    "!=": float.__ne__,
    "<": float.__lt__,
    "<=": float.__le__,
    ">": float.__gt__,
    ">=": float.__ge__,
}
_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "=": str.__eq__,
    "!=": str.__ne__,
    "CONTAINS": str.__contains__,
    "BEGINSWITH": str.startswith,
    "ENDSWITH": str.endswith,
}


def _tester(operator: str, wanted: Any) -> Callable[[Any], bool]:
    """The test of one value against the literal; a value of another type never matches."""
    if isinstance(wanted, bool):
        equal = operator == "="
        return lambda actual: isinstance(actual, bool) and (actual == wanted) is equal
    if isinstance(wanted, float):
        number_test = _NUMBER_TESTS[operator]

        def number(actual: Any) -> bool:
            kind = type(actual)
            if kind is float:
                return number_test(actual, wanted)
            return (
                kind is not bool
                and isinstance(actual, int | float)
                and number_test(float(actual), wanted)
            )

        return number
    string_test = _STRING_TESTS.get(operator)
    if string_test is None or not isinstance(wanted, str):
        return lambda actual: False  # ordering operators on strings match nothing
    return lambda actual: isinstance(actual, str) and string_test(actual, wanted)


# --- compiling ---------------------------------------------------------------------------------
Predicate = Callable[[Trace, Segment | None], bool]


def _fail(node: Comparison, why: str) -> FilterExpressionError:
    return FilterExpressionError(
        f"Invalid filter expression: {node.keyword} at position {node.position}: {why}",
        node.position,
    )


def _annotation_key(keyword: str) -> str | None:
    lowered = keyword.lower()
    if lowered.startswith("annotation."):
        return keyword[len("annotation.") :]
    if lowered.startswith("annotation[") and keyword.endswith("]"):
        key = keyword[len("annotation[") : -1].strip()
        return key[1:-1] if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'" else key
    return None


def _compile_comparison(node: Comparison, scoped: bool) -> Predicate:
    key = _annotation_key(node.keyword)
    if key is not None:
        if scoped:
            raise _fail(node, "annotation keywords cannot be used inside service() or edge()")
        return _compile_annotation(node, key)
    name = node.keyword.lower()
    if name not in _KEYWORDS:
        if name.split(".")[0] in _UNSUPPORTED:
            raise _fail(node, "root-cause and group keywords are not supported by the local cloud")
        raise _fail(node, "unknown keyword (see 'Use filter expressions' in the X-Ray guide)")
    kind, values, at_trace, in_braces = _KEYWORDS[name]
    if not (in_braces if scoped else at_trace):
        raise _fail(node, "this keyword can be used only inside service(...) { } or edge()")
    operator, wanted = node.operator, node.value
    if operator is None:
        if kind == "boolean":
            return lambda t, s: any(v is True for v in values(t, s))
        return lambda t, s: bool(values(t, s))  # a string/number keyword alone: is it set
    if operator not in _OPERATORS[kind]:
        raise _fail(node, f"{operator} does not apply to a {kind} keyword")
    expected = {"boolean": bool, "number": float, "string": str}[kind]
    if type(wanted) is not expected:
        raise _fail(node, f"compare a {kind} keyword with a {kind} value")
    if operator == "!=":
        # X-Ray compares a set value: a keyword with no value matches neither = nor !=.
        equal = _tester("=", wanted)
        return lambda t, s: bool(vs := values(t, s)) and not any(map(equal, vs))
    test = _tester(operator, wanted)
    return lambda t, s: any(map(test, values(t, s)))


def _compile_annotation(node: Comparison, key: str) -> Predicate:
    operator, wanted = node.operator, node.value
    if operator is None:
        return lambda t, s: key in t.annotation_index
    allowed = (
        _OPERATORS["boolean"]
        if isinstance(wanted, bool)
        else _OPERATORS["number"]
        if isinstance(wanted, float)
        else _OPERATORS["string"]
    )
    if operator not in allowed:
        raise _fail(node, f"{operator} does not apply to a {type(wanted).__name__} value")

    def values(t: Trace) -> list[Any]:
        return t.annotation_index.get(key, [])

    if operator == "!=":
        equal = _tester("=", wanted)
        return lambda t, s: bool(vs := values(t)) and not any(map(equal, vs))
    test = _tester(operator, wanted)
    return lambda t, s: any(map(test, values(t)))


def _compile(node: Node, scoped: bool) -> Predicate:
    if isinstance(node, Comparison):
        return _compile_comparison(node, scoped)
    if isinstance(node, Not):
        inner = _compile(node.item, scoped)
        return lambda t, s: not inner(t, s)
    if isinstance(node, AllOf | AnyOf):
        # Cheap parts first (AND stops at the first false, OR at the first true): a service()
        # or edge() filter reads every segment, a keyword one value.
        items = sorted(node.items, key=_cost)
        return _chain([_compile(item, scoped) for item in items], isinstance(node, AllOf))
    if isinstance(node, ServiceFilter):
        ref = node.ref
        body = _compile(node.body, True) if node.body is not None else None
        return lambda t, s: any(
            (ref is None or ref.matches(seg.service)) and (body is None or body(t, seg))
            for seg in t.all_segments
        )
    source, target = node.source, node.target
    body = _compile(node.body, True) if node.body is not None else None
    return lambda t, s: any(
        caller is not None
        and source.matches(caller.service)
        and target.matches(callee.service)
        and (body is None or body(t, callee))
        for caller, callee in t.edges
    )


def _cost(node: Node) -> int:
    """How much of a trace evaluating ``node`` reads, roughly (orders AND and OR parts)."""
    if isinstance(node, Comparison):
        return 1
    if isinstance(node, Not):
        return _cost(node.item)
    if isinstance(node, AllOf | AnyOf):
        return sum(_cost(item) for item in node.items)
    return 10


def _chain(parts: list[Predicate], every: bool) -> Predicate:
    """``parts`` joined by AND (``every``) or OR, without a generator per trace."""
    joined = parts[0]
    for part in parts[1:]:
        joined = _both(joined, part) if every else _either(joined, part)
    return joined


def _both(first: Predicate, second: Predicate) -> Predicate:
    return lambda t, s: first(t, s) and second(t, s)


def _either(first: Predicate, second: Predicate) -> Predicate:
    return lambda t, s: first(t, s) or second(t, s)


class TraceFilter:
    """A compiled filter expression; :meth:`matches` answers it for one trace."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tree = parse_filter(expression)
        self._predicate = _compile(self.tree, scoped=False)

    def matches(self, trace: Trace | Iterable[Document | str]) -> bool:
        subject = trace if isinstance(trace, Trace) else Trace(trace)
        return self._predicate(subject, None)


def compile_filter(expression: str) -> TraceFilter:
    """Parse and compile ``expression``; raises :class:`FilterExpressionError` if X-Ray would."""
    return TraceFilter(expression)


__all__ = ["FilterExpressionError", "TraceFilter", "compile_filter", "parse_filter"]
