"""Running a parsed Logs Insights query over log events: the command pipeline.

Each command turns the rows of the previous one into new rows, as the guide describes them:
``filter`` keeps rows, ``fields``/``parse`` add fields to them, ``stats`` turns them into one row
per group (``by`` fields first, then the statistics, which may use earlier statistics' aliases,
as AWS's over-provisioned-memory sample does), ``sort`` orders them by Logs Insights' natural
sort, ``limit`` cuts them, ``dedup`` keeps the first row per key, ``display`` picks the columns
(the last ``display`` wins; without one, the fields of every ``fields`` command, else the
statistics, else ``@timestamp`` and ``@message``).

Events count as newest first wherever order matters (``limit 25`` without a sort gives the 25
newest events, as in the console; they are sorted only when something needs the order);
``stats`` groups come out in ascending order of their ``by`` values. Expressions are compiled
once to Python closures, and each aggregation reads its group in one pass, so a query over
100,000 events takes well under a second of CPU. An aggregation outside ``stats``, an unknown
function or a wrong argument count is a :class:`MalformedQueryError` pointing at the call.

Imports the other ``insights_*`` modules only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import methodcaller
from typing import Any

from .insights_fields import Record, ResultRow, Row, sort_key
from .insights_functions import (
    AGGREGATES,
    SCALAR,
    SPECIAL,
    Accumulator,
    arithmetic,
    ceil_time,
    compare,
    floor_time,
    to_number,
    truthy,
)
from .insights_parser import (
    Binary,
    Call,
    Command,
    Const,
    Expr,
    Field,
    InList,
    Like,
    MalformedQueryError,
    Named,
    Pattern,
    Period,
    Star,
    Unary,
)

Evaluator = Callable[[Row], Any]


def _agg_key(slot: int) -> str:
    return f"\x00agg{slot}"  # a key no query can name: an aggregate's value in a stats row


@dataclass
class _Scope:
    """What an expression may use where it stands."""

    aggregates: dict[int, int] | None = None  # id(Call) → slot, inside a stats item


def compile_expr(expr: Expr, scope: _Scope | None = None) -> Evaluator:
    scope = scope or _Scope()
    if isinstance(expr, Field):
        return methodcaller("get", expr.name)  # C-level: one Python frame less per row
    if isinstance(expr, Const):
        value = expr.value
        return lambda row: value
    if isinstance(expr, Period | Star | Pattern):
        raise MalformedQueryError.at("this can only be a function's argument", expr.span)
    if isinstance(expr, Unary):
        operand = compile_expr(expr.operand, scope)
        if expr.op == "not":
            return lambda row: not truthy(operand(row))
        return lambda row: arithmetic("-", 0, operand(row))
    if isinstance(expr, Binary):
        return _compile_binary(expr, scope)
    if isinstance(expr, Like):
        subject, regex, negated = (
            compile_expr(expr.subject, scope),
            expr.pattern.regex,
            expr.negated,
        )

        def like(row: Row) -> bool:
            value = subject(row)
            if value is None:
                return False
            return (regex.search(str(value)) is None) == negated

        return like
    if isinstance(expr, InList):
        subject = compile_expr(expr.subject, scope)
        items = [compile_expr(i, scope) for i in expr.items]
        negated = expr.negated

        def member(row: Row) -> bool:
            value = subject(row)
            if value is None:
                return False
            return any(compare("=", value, item(row)) for item in items) != negated

        return member
    return _compile_call(expr, scope)


def _compile_binary(expr: Binary, scope: _Scope) -> Evaluator:
    if (
        expr.op == "="
        and isinstance(expr.left, Field)
        and isinstance(expr.right, Const)
        and isinstance(expr.right.value, str)
    ):  # field = "text", the usual filter: one call per row instead of three
        name, text = expr.left.name, expr.right.value

        def equals(row: Row) -> bool:
            value = row.get(name)
            return value == text if type(value) is str else compare("=", value, text)

        return equals
    left, right, op = compile_expr(expr.left, scope), compile_expr(expr.right, scope), expr.op
    if op == "and":
        return lambda row: truthy(left(row)) and truthy(right(row))
    if op == "or":
        return lambda row: truthy(left(row)) or truthy(right(row))
    if op in ("=", "!=", "<", "<=", ">", ">="):
        return lambda row: compare(op, left(row), right(row))
    return lambda row: arithmetic(op, left(row), right(row))


def _arity(call: Call, low: int, high: int | None) -> None:
    count = len(call.args)
    if count < low or (high is not None and count > high):
        wanted = f"{low}" if low == high else f"{low} to {high}" if high else f"at least {low}"
        raise MalformedQueryError.at(
            f"{call.name}() takes {wanted} argument(s), not {count}", call.span
        )


def _period(call: Call, arg: Expr) -> int:
    if not isinstance(arg, Period):
        raise MalformedQueryError.at(
            f"{call.name}() needs a time period such as 5m or 1h", arg.span
        )
    return arg.millis


def _compile_call(call: Call, scope: _Scope) -> Evaluator:
    name = call.name
    if name in AGGREGATES:
        if scope.aggregates is None or id(call) not in scope.aggregates:
            raise MalformedQueryError.at(
                f"{name}() is an aggregation: use it in a stats command", call.span
            )
        key = _agg_key(scope.aggregates[id(call)])
        return lambda row: row.get(key)
    if name in SPECIAL:
        _arity(call, *SPECIAL[name])
        if name == "ispresent":
            target = compile_expr(call.args[0], scope)
            return lambda row: target(row) is not None
        if name == "bin":
            period = _period(call, call.args[0])
            return lambda row: floor_time(row.get("@timestamp"), period)
        stamp, period = compile_expr(call.args[0], scope), _period(call, call.args[1])
        rounding = floor_time if name == "datefloor" else ceil_time
        return lambda row: rounding(stamp(row), period)
    if name not in SCALAR:
        raise MalformedQueryError.at(
            f"unknown function {name}(): see the functions in the Logs Insights query syntax",
            call.span,
        )
    low, high, function = SCALAR[name]
    _arity(call, low, high)
    args = [compile_expr(a, scope) for a in call.args]
    if len(args) == 1:
        only = args[0]
        return lambda row: function(only(row))
    return lambda row: function(*(a(row) for a in args))


# --- stats ---------------------------------------------------------------------------------------
def _aggregate_calls(expr: Expr, found: list[Call]) -> None:
    """The aggregation calls in an expression (an aggregation inside one is refused)."""
    if isinstance(expr, Call) and expr.name in AGGREGATES:
        for arg in expr.args:
            inner: list[Call] = []
            _aggregate_calls(arg, inner)
            if inner:
                raise MalformedQueryError.at("an aggregation cannot contain one", inner[0].span)
        found.append(expr)
        return
    children: Sequence[Any] = ()
    if isinstance(expr, Call):
        children = expr.args
    elif isinstance(expr, Binary):
        children = (expr.left, expr.right)
    elif isinstance(expr, Unary):
        children = (expr.operand,)
    elif isinstance(expr, Like):
        children = (expr.subject,)
    elif isinstance(expr, InList):
        children = (expr.subject, *expr.items)
    for child in children:
        _aggregate_calls(child, found)


def _accumulator_factory(call: Call) -> Callable[[], Accumulator]:
    low, high, kind = AGGREGATES[call.name]
    _arity(call, low, high)
    args = list(call.args)
    fraction: float | None = None
    if call.name in ("pct", "percentile"):
        percent = args.pop()
        number = to_number(percent.value) if isinstance(percent, Const) else None
        if number is None or not 0 <= number <= 100:
            raise MalformedQueryError.at(
                f"{call.name}() needs a percent from 0 to 100", percent.span
            )
        fraction = number / 100
    if args and isinstance(args[0], Star):
        if call.name != "count":
            raise MalformedQueryError.at(f"{call.name}(*) is not allowed", args[0].span)
        args = []
    evaluators = [compile_expr(a) for a in args]
    return lambda: kind(evaluators, fraction)


def run_stats(command: Command, rows: Sequence[Row]) -> list[ResultRow]:
    calls: list[Call] = []
    for item in command.items:
        _aggregate_calls(item.expr, calls)
    if not calls:
        raise MalformedQueryError.at("stats needs an aggregation such as count(*)", command.span)
    slots = {id(c): i for i, c in enumerate(calls)}
    factories = [_accumulator_factory(c) for c in calls]
    items = [(i.name, compile_expr(i.expr, _Scope(slots))) for i in command.items]
    groups = [(g.name, compile_expr(g.expr)) for g in command.by]
    # Rows are put in their groups first, then each aggregation reads a whole group at once:
    # one pass per aggregation (map over C-level evaluators) instead of a call per row.
    members: dict[tuple[Any, ...], list[Row]] = {}
    if groups:
        for row in rows:
            key = tuple(evaluate(row) for _, evaluate in groups)
            found = members.get(key)
            if found is None:
                members[key] = [row]
            else:
                found.append(row)
    elif rows:
        members[()] = list(rows)
    buckets: dict[tuple[Any, ...], list[Accumulator]] = {}
    for key, group_rows in members.items():
        accumulators = buckets[key] = [make() for make in factories]
        for accumulator in accumulators:
            accumulator.add_all(group_rows)
    ordered = sorted(buckets.items(), key=lambda kv: tuple(sort_key(v) for v in kv[0]))
    out: list[ResultRow] = []
    for key, accumulators in ordered:
        row = ResultRow(zip((name for name, _ in groups), key, strict=True))
        for slot, accumulator in enumerate(accumulators):
            row[_agg_key(slot)] = accumulator.result()
        for name, evaluate in items:  # in order: a later item may use an earlier alias
            row[name] = evaluate(row)
        for slot in range(len(accumulators)):
            del row[_agg_key(slot)]
        out.append(row)
    return out


# --- the pipeline --------------------------------------------------------------------------------
@dataclass
class Outcome:
    rows: list[Row]
    columns: list[str]
    aggregated: bool  # rows are stats groups (no @ptr)
    matched: int


def _natural_sort(rows: list[Row], order: Sequence[tuple[Expr, bool]]) -> list[Row]:
    keyed = [(compile_expr(expr), descending) for expr, descending in order]
    result = list(rows)
    for evaluate, descending in reversed(keyed):  # stable sorts, last key first
        result.sort(key=lambda row: sort_key(evaluate(row)), reverse=descending)
    return result


def _assign(rows: Sequence[Row], items: Sequence[Named]) -> None:
    for item in items:
        if isinstance(item.expr, Field) and item.alias is None:
            continue  # a plain field: nothing to compute
        evaluate, name = compile_expr(item.expr), item.name
        for row in rows:
            row.set(name, evaluate(row))


def _newest_first(rows: list[Row]) -> list[Row]:
    def when(row: Row) -> float:
        stamp = row.event.get("timestamp") if isinstance(row, Record) else row.get("@timestamp")
        return to_number(stamp) or 0

    return sorted(rows, key=when, reverse=True)


def execute(commands: Sequence[Command], rows: list[Row]) -> Outcome:
    """Run the commands over the rows; events count as newest first where order matters."""
    ordered = False  # rows are in the input's order until something orders them
    fields: list[str] = []
    display: list[str] | None = None
    aggregated = False
    matched = len(rows)
    for command in commands:
        kind = command.kind
        if kind == "filter":
            assert command.expr is not None
            keep = compile_expr(command.expr)
            rows = [row for row, value in zip(rows, map(keep, rows), strict=True) if truthy(value)]
        elif kind == "fields":
            _assign(rows, command.items)
            fields.extend(n.name for n in command.items if n.name not in fields)
        elif kind == "display":
            _assign(rows, command.items)
            display = [n.name for n in command.items]
        elif kind == "parse":
            _parse(command, rows)
        elif kind == "stats":
            if not aggregated:
                matched = len(rows)
            rows = list(run_stats(command, rows))
            aggregated = ordered = True
            fields = [n.name for n in (*command.by, *command.items)]
        elif kind == "sort":
            if not ordered:  # equal keys keep the newest-first order
                rows = _newest_first(rows)
            rows = _natural_sort(rows, command.order)
            ordered = True
        elif kind == "limit":
            rows = rows if ordered else _newest_first(rows)
            rows = rows[: command.count]
            ordered = True
        elif kind == "dedup":
            rows = rows if ordered else _newest_first(rows)
            rows = _dedup(rows, [compile_expr(k) for k in command.keys])
            ordered = True
        if not aggregated and kind in ("filter", "dedup"):
            matched = len(rows)
    columns = display if display is not None else fields or ["@timestamp", "@message"]
    return Outcome(rows if ordered else _newest_first(rows), columns, aggregated, matched)


def _parse(command: Command, rows: Sequence[Row]) -> None:
    regex, names, source = command.pattern, command.names, command.source
    assert regex is not None
    for row in rows:
        value = row.get(source)
        match = regex.search(str(value)) if value is not None else None
        if match is None:
            continue
        if regex.groupindex:
            for name in names:
                row.set(name, match.group(name))
        else:
            for name, text in zip(names, match.groups(), strict=True):
                row.set(name, text)


def _dedup(rows: Sequence[Row], keys: Sequence[Evaluator]) -> list[Row]:
    seen: set[tuple[str, ...]] = set()
    kept: list[Row] = []
    for row in rows:
        values = [k(row) for k in keys]
        if any(v is None for v in values):
            kept.append(row)  # a row missing a key field duplicates nothing
            continue
        key = tuple(str(v) for v in values)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept
