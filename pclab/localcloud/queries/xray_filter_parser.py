"""X-Ray filter expressions: the lark grammar and the expression tree it produces.

The syntax is the one the X-Ray developer guide documents in "Use filter expressions": keyword,
operator, value; ``AND``/``OR``/``NOT``/``!`` in any letter case, parentheses, juxtaposition as
AND (the guide's ``ok !partial duration <3``); ``service(...)`` and ``edge(..., ...)`` with an
optional ``{ filter }``; ``id(name: ..., type: ...)``; ``annotation.KEY`` and ``annotation[KEY]``.
What the keywords mean is :mod:`.xray_filter`'s business; this module only reads the text, and a
malformed expression raises :class:`FilterExpressionError` naming the position.

Imports lark and :mod:`.xray_trace` (for the service a ``NodeRef`` matches) only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .xray_trace import ServiceId

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
def filter_parser() -> Lark:
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


_ROOT_CAUSE = re.compile(r"\b(rootcause\.[\w.]*|json|group\.\w+)", re.IGNORECASE)


def parse_filter(expression: str) -> Node:
    """The expression's tree, or :class:`FilterExpressionError` naming where it went wrong."""
    if not expression.strip():
        raise FilterExpressionError("Invalid filter expression: the expression is empty", 0)
    try:
        tree = filter_parser().parse(expression)
    except UnexpectedInput as error:
        unsupported = _ROOT_CAUSE.search(expression)
        if unsupported is not None:  # its { } blocks are not in this grammar: say why
            raise FilterExpressionError(
                f"Invalid filter expression: {unsupported.group(1)} at position "
                f"{unsupported.start()}: root-cause and group keywords are not supported by the "
                "local cloud",
                unsupported.start(),
            ) from None
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
