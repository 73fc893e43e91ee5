"""Logs Insights queries as a tree: the commands and expressions the executor runs.

:func:`parse_query` reads a query with the grammar of :mod:`.insights_grammar` and builds
:class:`Command` objects whose expressions keep their character spans, so that an error found
later (an unknown function, an aggregation outside ``stats``) still points at the query text, and
an unaliased column is named by its text as written (``count(*)``, ``avg(@duration)``).
Imports lark and :mod:`.insights_grammar` only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

from .insights_grammar import (
    MalformedQueryError,
    Span,
    compile_regex,
    glob_regex,
    grammar_parser,
    syntax_error,
)

# --- the query tree --------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    span: Span


@dataclass(frozen=True)
class Const:
    value: Any  # str, int or float
    span: Span


@dataclass(frozen=True)
class Pattern:
    """The right side of like/=~ and a parse regex: a compiled regular expression."""

    regex: re.Pattern[str]
    span: Span


@dataclass(frozen=True)
class Period:
    millis: int
    span: Span


@dataclass(frozen=True)
class Star:
    span: Span


@dataclass(frozen=True)
class Call:
    name: str  # lower case
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / % ^ = != < <= > >= and or
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Unary:
    op: str  # "not" or "-"
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Like:
    subject: Expr
    pattern: Pattern
    negated: bool
    span: Span


@dataclass(frozen=True)
class InList:
    subject: Expr
    items: tuple[Expr, ...]
    negated: bool
    span: Span


Expr = Field | Const | Pattern | Period | Star | Call | Binary | Unary | Like | InList


@dataclass(frozen=True)
class Named:
    expr: Expr
    alias: str | None
    text: str  # the expression as written: the column name when there is no alias

    @property
    def name(self) -> str:
        return self.alias if self.alias is not None else self.text


@dataclass(frozen=True)
class Command:
    kind: str  # fields display filter stats sort limit parse dedup
    span: Span
    items: tuple[Named, ...] = ()  # fields, display, stats
    by: tuple[Named, ...] = ()  # stats
    expr: Expr | None = None  # filter
    order: tuple[tuple[Expr, bool], ...] = ()  # sort: (key, descending)
    count: int = 0  # limit
    source: str = "@message"  # parse
    pattern: re.Pattern[str] | None = None  # parse
    names: tuple[str, ...] = ()  # parse
    keys: tuple[Expr, ...] = ()  # dedup


def _unquote(token: Token) -> str:
    body = str(token)[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


_PERIOD_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def _span(token: Token) -> Span:
    return (token.start_pos or 0, token.end_pos or 0)


def _spans(*items: Any) -> Span:
    starts = [i.span[0] for i in items if hasattr(i, "span")]
    ends = [i.span[1] for i in items if hasattr(i, "span")]
    return (min(starts), max(ends))


@v_args(inline=True)
class _ToTree(Transformer[Token, Any]):
    def __init__(self, query: str) -> None:
        super().__init__()
        self.query = query

    def _text(self, span: Span) -> str:
        return self.query[span[0] : span[1]].strip()

    # expressions
    def number(self, token: Token) -> Const:
        text = str(token)
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        return Const(value, _span(token))

    def string(self, token: Token) -> Const:
        return Const(_unquote(token), _span(token))

    def period(self, token: Token) -> Period:
        text = str(token)
        digits = re.match(r"\d+", text)
        assert digits is not None
        unit = text[digits.end() :]
        return Period(int(digits.group()) * _PERIOD_MS[unit], _span(token))

    def name(self, token: Token) -> tuple[str, Span]:
        text = str(token)
        return (text[1:-1] if text.startswith("`") else text), _span(token)

    def field(self, name: tuple[str, Span]) -> Field:
        return Field(*name)

    def call(self, func: Token, *args: Any) -> Call:
        parsed = tuple(Star(_span(a)) if isinstance(a, Token) else a for a in args if a is not None)
        end = self.query.index(")", max([func.end_pos or 0] + [a.span[1] for a in parsed])) + 1
        return Call(str(func).lower(), parsed, (func.start_pos or 0, end))

    def _binary(self, *kids: Any) -> Expr:
        result = kids[0]
        for op, right in zip(kids[1::2], kids[2::2], strict=True):
            result = Binary(str(op), result, right, _spans(result, right))
        return result  # type: ignore[no-any-return]

    sum = _binary
    product = _binary

    def power(self, base: Expr, op: Token, exponent: Expr) -> Binary:
        return Binary("^", base, exponent, _spans(base, exponent))

    def compare(self, left: Expr, op: Token, right: Expr) -> Binary:
        text = str(op)
        return Binary("=" if text == "==" else text, left, right, _spans(left, right))

    def and_expr(self, *items: Expr) -> Expr:
        result = items[0]
        for item in items[1:]:
            result = Binary("and", result, item, _spans(result, item))
        return result

    def or_expr(self, *items: Expr) -> Expr:
        result = items[0]
        for item in items[1:]:
            result = Binary("or", result, item, _spans(result, item))
        return result

    def negation(self, op: Token, operand: Expr) -> Unary:
        return Unary("not", operand, (op.start_pos or 0, operand.span[1]))

    def negative(self, op: Token, operand: Expr) -> Unary:
        return Unary("-", operand, (op.start_pos or 0, operand.span[1]))

    def like(self, subject: Expr, *rest: Any) -> Like:
        negated = len(rest) == 3 and rest[0] is not None
        pattern = rest[-1]
        span = _span(pattern)
        if pattern.type == "REGEX":
            regex = compile_regex(str(pattern)[1:-1], span)
        else:  # a quoted substring: a literal match
            regex = re.compile(re.escape(_unquote(pattern)))
        return Like(subject, Pattern(regex, span), negated, (subject.span[0], span[1]))

    def in_list(self, subject: Expr, negation: Token | None, _in: Token, *items: Any) -> InList:
        values = tuple(i for i in items if i is not None)
        end = self.query.index("]", max([_in.end_pos or 0] + [v.span[1] for v in values])) + 1
        return InList(subject, values, negation is not None, (subject.span[0], end))

    # commands
    def named(self, expr: Expr, alias: tuple[str, Span] | None) -> Named:
        return Named(expr, alias[0] if alias else None, self._text(expr.span))

    def fields_cmd(self, kw: Token, *items: Named) -> Command:
        return Command("fields", _span(kw), items=items)

    def display_cmd(self, kw: Token, *items: Named) -> Command:
        return Command("display", _span(kw), items=items)

    def filter_cmd(self, kw: Token, expr: Expr) -> Command:
        return Command("filter", _span(kw), expr=expr)

    def stats_cmd(self, kw: Token, *items: Named | Token) -> Command:
        split = next((i for i, x in enumerate(items) if isinstance(x, Token)), len(items))
        stats = tuple(x for x in items[:split] if isinstance(x, Named))
        groups = tuple(x for x in items[split + 1 :] if isinstance(x, Named))
        return Command("stats", _span(kw), items=stats, by=groups)

    def sort_key(self, expr: Expr, direction: Token | None) -> tuple[Expr, bool]:
        return expr, direction is not None and str(direction).lower() == "desc"

    def sort_cmd(self, kw: Token, *keys: tuple[Expr, bool] | Token) -> Command:
        return Command("sort", _span(kw), order=tuple(k for k in keys if isinstance(k, tuple)))

    def limit_cmd(self, kw: Token, count: Token) -> Command:
        return Command("limit", _span(kw), count=int(count))

    def parse_cmd(self, kw: Token, source: Token | None, *rest: Any) -> Command:
        field = "@message" if source is None else str(source).strip("`")
        pattern = rest[0]
        if pattern.type == "REGEX":
            regex = compile_regex(str(pattern)[1:-1], _span(pattern))
            names = tuple(regex.groupindex)
            if not names:
                raise MalformedQueryError.at(
                    "parse with a regular expression needs named groups such as (?<name>.*)",
                    _span(pattern),
                )
        else:
            regex = glob_regex(_unquote(pattern), _span(pattern))
            names = tuple(n[0] for n in rest[1:])
            if len(names) != regex.groups:
                raise MalformedQueryError.at(
                    f"parse pattern has {regex.groups} '*' but {len(names)} names after 'as'",
                    _span(pattern),
                )
        return Command("parse", _span(kw), source=field, pattern=regex, names=names)

    def dedup_cmd(self, kw: Token, *keys: Expr) -> Command:
        return Command("dedup", _span(kw), keys=keys)

    def start(self, *commands: Command) -> list[Command]:
        return list(commands)


def parse_query(query: str) -> list[Command]:
    """The query's commands, or :class:`MalformedQueryError` with where it went wrong."""
    if not query.strip():
        raise MalformedQueryError("the query is empty", 0, 0)
    try:
        tree = grammar_parser().parse(query)
    except UnexpectedInput as error:
        raise syntax_error(query, error) from None
    try:
        commands: list[Command] = _ToTree(query).transform(tree)
    except VisitError as error:  # a MalformedQueryError raised while building the tree
        if isinstance(error.orig_exc, MalformedQueryError):
            raise error.orig_exc from None
        raise
    return commands


__all__ = ["MalformedQueryError", "parse_query"]
