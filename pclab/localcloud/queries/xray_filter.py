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

Imports lark and :mod:`.xray_trace` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .xray_trace import Document, Segment, ServiceId, Trace, http_request

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: unary (_AND? unary)*
?unary: NOT unary -> negation
      | "(" or_expr ")"
      | service
      | edge
      | comparison
comparison: KEYWORD (OPERATOR value)?
service: SERVICE "(" [node_ref] ")" [block]
edge: EDGE "(" node_ref "," node_ref ")" [block]
block: "{" [or_expr] "}"
?node_ref: STRING -> name_ref
         | ID "(" id_arg ("," id_arg)* ")" -> id_ref
id_arg: KEYWORD ":" STRING
?value: STRING | NUMBER | KEYWORD

_OR.2: /or\b/i
_AND.2: /and\b/i
NOT.2: /not\b/i | /!(?!=)/
SERVICE.2: /service(?=\s*\()/i
EDGE.2: /edge(?=\s*\()/i
ID.2: /id(?=\s*\()/i
OPERATOR.2: /!=|<=|>=|=|<|>/ | /(?:contains|beginswith|endswith)\b/i
KEYWORD: /annotation\[[^\]\n]*\]/i | /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*/
STRING: /"(?:\\.|[^"\\])*"/ | /'(?:\\.|[^'\\])*'/
NUMBER: /-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/
%import common.WS
%ignore WS
"""


class FilterExpressionError(ValueError):
    """A filter expression X-Ray would refuse (GetTraceSummaries: InvalidRequestException)."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=True)


# --- the expression tree ---------------------------------------------------------------------
@dataclass(frozen=True)
class NodeRef:
    """A service by name and/or type (``"name"`` or ``id(name: ..., type: ...)``)."""

    name: str | None
    type: str | None

    def matches(self, service: ServiceId) -> bool:
        return (self.name is None or service.name == self.name) and (
            self.type is None or service.type == self.type
        )


@dataclass(frozen=True)
class Comparison:
    keyword: str  # as written
    position: int
    operator: str | None  # None: the keyword alone
    value: str | float | bool | None


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class AllOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class ServiceFilter:
    ref: NodeRef | None  # None: every service
    body: Node | None


@dataclass(frozen=True)
class EdgeFilter:
    source: NodeRef
    target: NodeRef
    body: Node | None


Node = Comparison | Not | AllOf | AnyOf | ServiceFilter | EdgeFilter


def _unquote(token: Token) -> str:
    text = str(token)[1:-1]
    return text.replace('\\"', '"').replace("\\'", "'").replace("\\\\", "\\")


def _tree_to_node(tree: Tree[Token] | Token) -> Node:
    if isinstance(tree, Token):  # pragma: no cover - the grammar wraps keywords in comparison
        raise FilterExpressionError(f"unexpected {tree!s}", tree.start_pos)
    kind = tree.data
    kids = tree.children
    if kind == "or_expr":
        return AnyOf(tuple(_tree_to_node(k) for k in kids))
    if kind == "and_expr":
        return AllOf(tuple(_tree_to_node(k) for k in kids))
    if kind == "negation":
        return Not(_tree_to_node(kids[1]))
    if kind == "comparison":
        keyword, operator, value = [*kids, None, None][:3]
        assert isinstance(keyword, Token)
        return Comparison(
            keyword=str(keyword),
            position=keyword.start_pos or 0,
            operator=str(operator).upper() if operator is not None else None,
            value=_literal(value) if value is not None else None,
        )
    if kind == "service":
        _, ref, block = kids
        return ServiceFilter(_node_ref(ref) if ref is not None else None, _block(block))
    if kind == "edge":
        _, source, target, block = kids
        return EdgeFilter(_node_ref(source), _node_ref(target), _block(block))
    raise FilterExpressionError(f"unexpected {kind}")  # pragma: no cover


def _literal(token: Any) -> str | float | bool:
    assert isinstance(token, Token)
    if token.type == "STRING":
        return _unquote(token)
    if token.type == "NUMBER":
        return float(token)
    word = str(token).lower()
    if word in ("true", "false"):
        return word == "true"
    raise FilterExpressionError(
        f"Invalid filter expression: {token!s} at position {token.start_pos} is not a value;"
        ' put strings in quotes ("...") and write numbers or true/false bare',
        token.start_pos,
    )


def _block(block: Any) -> Node | None:
    if block is None or not block.children or block.children[0] is None:
        return None
    return _tree_to_node(block.children[0])


def _node_ref(ref: Any) -> NodeRef:
    if ref.data == "name_ref":
        return NodeRef(_unquote(ref.children[0]), None)
    fields: dict[str, str] = {}
    for arg in ref.children[1:]:
        key, value = arg.children
        name = str(key).lower()
        if name not in ("name", "type"):
            raise FilterExpressionError(
                f"Invalid filter expression: id() takes name: and type:, not {key!s}: "
                f"(position {key.start_pos})",
                key.start_pos,
            )
        fields[name] = _unquote(value)
    return NodeRef(fields.get("name"), fields.get("type"))


def parse_filter(expression: str) -> Node:
    """The expression's tree, or :class:`FilterExpressionError` naming where it went wrong."""
    if not expression.strip():
        raise FilterExpressionError("Invalid filter expression: the expression is empty", 0)
    try:
        tree = _parser().parse(expression)
    except UnexpectedInput as error:
        raise _syntax_error(expression, error) from None
    return _tree_to_node(tree)


def _syntax_error(expression: str, error: UnexpectedInput) -> FilterExpressionError:
    pos: int
    if isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    ):
        pos = len(expression)
        what = "end of the expression"
    elif isinstance(error, UnexpectedToken):
        pos = error.token.start_pos or 0
        what = repr(str(error.token))
    elif isinstance(error, UnexpectedCharacters):
        pos = error.pos_in_stream or 0
        what = repr(expression[pos])
    else:  # pragma: no cover - lark raises only the three above
        pos = getattr(error, "pos_in_stream", 0) or 0
        what = "input"
    return FilterExpressionError(
        f"Invalid filter expression: unexpected {what} at position {pos} (column {pos + 1})"
        f" in {expression!r}",
        pos,
    )


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


def _test(operator: str, actual: Any, wanted: Any) -> bool:
    """One value against the literal; a value of another type never matches."""
    if isinstance(wanted, bool) or isinstance(actual, bool):
        if not (isinstance(wanted, bool) and isinstance(actual, bool)):
            return False
        return (actual == wanted) if operator == "=" else (actual != wanted)
    if isinstance(wanted, float):
        if not isinstance(actual, int | float):
            return False
        number = float(actual)
        if operator == "=":
            return number == wanted
        if operator == "!=":
            return number != wanted
        if operator == "<":
            return number < wanted
        if operator == "<=":
            return number <= wanted
        if operator == ">":
            return number > wanted
        return number >= wanted
    if not isinstance(actual, str) or not isinstance(wanted, str):
        return False
    if operator == "=":
        return actual == wanted
    if operator == "!=":
        return actual != wanted
    if operator == "CONTAINS":
        return wanted in actual
    if operator == "BEGINSWITH":
        return actual.startswith(wanted)
    if operator == "ENDSWITH":
        return actual.endswith(wanted)
    return False  # ordering operators on strings match nothing


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
        return lambda t, s: bool(vs := values(t, s)) and not any(_test("=", v, wanted) for v in vs)
    return lambda t, s: any(_test(operator, v, wanted) for v in values(t, s))


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
        return lambda t, s: bool(vs := values(t)) and not any(_test("=", v, wanted) for v in vs)
    return lambda t, s: any(_test(operator, v, wanted) for v in values(t))


def _compile(node: Node, scoped: bool) -> Predicate:
    if isinstance(node, Comparison):
        return _compile_comparison(node, scoped)
    if isinstance(node, Not):
        inner = _compile(node.item, scoped)
        return lambda t, s: not inner(t, s)
    if isinstance(node, AllOf):
        parts = [_compile(item, scoped) for item in node.items]
        return lambda t, s: all(p(t, s) for p in parts)
    if isinstance(node, AnyOf):
        parts = [_compile(item, scoped) for item in node.items]
        return lambda t, s: any(p(t, s) for p in parts)
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
