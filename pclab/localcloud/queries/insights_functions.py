"""Logs Insights values, operators and functions: what ``=``, ``like``, ``avg()``, ``bin()`` do.

The function list and their meanings are the user guide's ("Supported operations and functions",
"Stats aggregation functions"): numeric, string, datetime, IP address and general functions, and
the aggregations ``count count_distinct sum avg min max pct (percentile) stddev earliest latest
sortsFirst sortsLast``.

Value rules (the guide: comparisons "accept all data types"): a field that is missing satisfies
no comparison; numbers and numeric text compare as numbers; other text compares as text; a
number and non-numeric text are never equal. ``pct`` is nearest-rank on the exact values (AWS
estimates it on large sets). Imports only :mod:`.insights_fields` and the standard library.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Sequence
from typing import Any

from .insights_fields import Row, Timestamp, sort_key


def to_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        if not value or value[-1] not in "0123456789.":
            return None  # cheaper than letting float() raise for words
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return bool(value)


def compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    if op == "=" and type(left) is str and type(right) is str:
        return left == right  # the common case (filter @type = "REPORT"), without conversions
    a: Any = to_number(left)
    b: Any = to_number(right)
    both_text = isinstance(left, str) and isinstance(right, str)
    if both_text and (op in ("=", "!=") or a is None or b is None):
        a, b = left, right  # text equality is exact; text ordering is by characters
    elif a is None or b is None:
        return op == "!="  # a number and non-numeric text: different, never ordered
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def arithmetic(op: str, left: Any, right: Any) -> int | float | None:
    a, b = to_number(left), to_number(right)
    if a is None or b is None:
        return None
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "%":
            return a % b
        result = a**b
        return result if isinstance(result, int | float) else None
    except (ZeroDivisionError, OverflowError):
        return None


# --- scalar functions: name → (min args, max args (None: any), implementation) -----------------
def _num(fn: Callable[[float], float]) -> Callable[..., Any]:
    def apply(value: Any) -> Any:
        number = to_number(value)
        if number is None:
            return None
        try:
            return fn(number)
        except (ValueError, OverflowError):
            return None

    return apply


def _text(fn: Callable[..., Any]) -> Callable[..., Any]:
    def apply(value: Any, *rest: Any) -> Any:
        return None if value is None else fn(str(value), *rest)

    return apply


def _trim(side: str) -> Callable[..., Any]:
    def apply(text: str, chars: Any = None) -> str:
        strip = {"l": str.lstrip, "r": str.rstrip, "": str.strip}[side]
        return strip(text, None if chars is None else str(chars))

    return _text(apply)


def _substr(text: str, start: Any, length: Any = None) -> str | None:
    begin = to_number(start)
    if begin is None:
        return None
    if length is None:
        return text[int(begin) :]
    count = to_number(length)
    return None if count is None else text[int(begin) : int(begin) + int(count)]


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*values: Any) -> Any:
        numbers = [n for n in (to_number(v) for v in values) if n is not None]
        return pick(numbers) if numbers else None

    return apply


def _ip(value: Any, version: int | None) -> bool:
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return version is None or address.version == version


def _in_subnet(version: int | None) -> Callable[[Any, Any], bool]:
    def apply(value: Any, subnet: Any) -> bool:
        try:
            address = ipaddress.ip_address(str(value))
            network = ipaddress.ip_network(str(subnet), strict=False)
        except ValueError:
            return False
        if version is not None and address.version != version:
            return False
        return address.version == network.version and address in network

    return apply


def floor_time(value: Any, period: int) -> Timestamp | None:
    millis = to_number(value)
    return None if millis is None else Timestamp(int(millis) // period * period)


def ceil_time(value: Any, period: int) -> Timestamp | None:
    millis = to_number(value)
    return None if millis is None else Timestamp(-(-int(millis) // period) * period)


SCALAR: dict[str, tuple[int, int | None, Callable[..., Any]]] = {
    "abs": (1, 1, _num(abs)),
    "ceil": (1, 1, _num(math.ceil)),
    "floor": (1, 1, _num(math.floor)),
    "log": (1, 1, _num(math.log)),
    "sqrt": (1, 1, _num(math.sqrt)),
    "greatest": (1, None, _extreme(max)),
    "least": (1, None, _extreme(min)),
    "coalesce": (1, None, lambda *vs: next((v for v in vs if v is not None), None)),
    "isempty": (1, 1, lambda v: v is None or str(v) == ""),
    "isblank": (1, 1, lambda v: v is None or str(v).strip() == ""),
    "concat": (1, None, lambda *vs: "".join("" if v is None else str(v) for v in vs)),
    "ltrim": (1, 2, _trim("l")),
    "rtrim": (1, 2, _trim("r")),
    "trim": (1, 2, _trim("")),
    "strlen": (1, 1, _text(len)),
    "toupper": (1, 1, _text(str.upper)),
    "tolower": (1, 1, _text(str.lower)),
    "substr": (2, 3, _text(_substr)),
    "replace": (3, 3, _text(lambda t, a, b: t.replace(str(a), str(b)))),
    "strcontains": (2, 2, _text(lambda t, s: 1 if str(s) in t else 0)),
    "frommillis": (1, 1, lambda v: floor_time(v, 1)),
    "tomillis": (1, 1, lambda v: None if to_number(v) is None else int(to_number(v) or 0)),
    "isvalidip": (1, 1, lambda v: _ip(v, None)),
    "isvalidipv4": (1, 1, lambda v: _ip(v, 4)),
    "isvalidipv6": (1, 1, lambda v: _ip(v, 6)),
    "isipinsubnet": (2, 2, _in_subnet(None)),
    "isipv4insubnet": (2, 2, _in_subnet(4)),
    "isipv6insubnet": (2, 2, _in_subnet(6)),
}
# ispresent, bin, datefloor and dateceil read the query's text, not only values: the executor
# compiles them itself.
SPECIAL = {"ispresent": (1, 1), "bin": (1, 1), "datefloor": (2, 2), "dateceil": (2, 2)}


# --- aggregations ----------------------------------------------------------------------------
Evaluator = Callable[[Row], Any]


class Accumulator:
    """Collects one aggregation over a group's rows."""

    def __init__(self, args: Sequence[Evaluator], fraction: float | None = None) -> None:
        self.args = args
        self.fraction = fraction
        self.values: list[Any] = []

    def add(self, row: Row) -> None:
        value = self.args[0](row)
        if value is not None:
            self.values.append(value)

    def add_all(self, rows: Sequence[Row]) -> None:
        """A whole group at once: the evaluator mapped over the rows, no call per row here."""
        self.values.extend(v for v in map(self.args[0], rows) if v is not None)

    def result(self) -> Any:
        raise NotImplementedError


class Count(Accumulator):
    def __init__(self, args: Sequence[Evaluator], fraction: float | None = None) -> None:
        super().__init__(args, fraction)
        self.count = 0
        if not args:
            self.add = self._add_every  # type: ignore[method-assign]
        else:
            self.arg = args[0]

    def _add_every(self, row: Row) -> None:
        self.count += 1

    def add(self, row: Row) -> None:
        if self.arg(row) is not None:
            self.count += 1

    def add_all(self, rows: Sequence[Row]) -> None:
        if not self.args:
            self.count += len(rows)
        else:
            self.count += sum(v is not None for v in map(self.arg, rows))

    def result(self) -> Any:
        return self.count


class CountDistinct(Accumulator):
    def result(self) -> Any:
        return len({str(v) for v in self.values})


class Numeric(Accumulator):
    def numbers(self) -> list[float | int]:
        return [n for n in (to_number(v) for v in self.values) if n is not None]


class Sum(Numeric):
    def result(self) -> Any:
        numbers = self.numbers()
        return math.fsum(numbers) if numbers else None


class Avg(Numeric):
    def result(self) -> Any:
        numbers = self.numbers()
        return math.fsum(numbers) / len(numbers) if numbers else None


class StdDev(Numeric):
    def result(self) -> Any:
        numbers = self.numbers()
        if len(numbers) < 2:
            return 0.0 if numbers else None
        mean = sum(numbers) / len(numbers)
        return math.sqrt(sum((n - mean) ** 2 for n in numbers) / (len(numbers) - 1))


class Percentile(Numeric):
    def result(self) -> Any:
        numbers = sorted(self.numbers())
        if not numbers or self.fraction is None:
            return None
        rank = max(1, math.ceil(self.fraction * len(numbers)))  # nearest rank
        return numbers[min(rank, len(numbers)) - 1]


class Extreme(Accumulator):
    """min / max: numbers when there are any, else text; times stay times."""

    pick: Callable[..., Any] = min

    def result(self) -> Any:
        if not self.values:
            return None
        if all(isinstance(v, Timestamp) for v in self.values):
            return Timestamp(type(self).pick(self.values))
        numbers = [n for n in (to_number(v) for v in self.values) if n is not None]
        if numbers:
            return type(self).pick(numbers)
        return type(self).pick(str(v) for v in self.values)


class Min(Extreme):
    pick = min


class Max(Extreme):
    pick = max


class ByTime(Accumulator):
    """earliest / latest: the value from the event with the earliest / latest @timestamp."""

    latest = False

    def add_all(self, rows: Sequence[Row]) -> None:
        for row in rows:
            self.add(row)

    def add(self, row: Row) -> None:
        value = self.args[0](row)
        if value is not None:
            self.values.append((to_number(row.get("@timestamp")) or 0, value))

    def result(self) -> Any:
        if not self.values:
            return None
        pick = max if self.latest else min
        return pick(self.values, key=lambda pair: pair[0])[1]


class Latest(ByTime):
    latest = True


class SortsFirst(Accumulator):
    def result(self) -> Any:
        return min(self.values, key=sort_key) if self.values else None


class SortsLast(Accumulator):
    def result(self) -> Any:
        return max(self.values, key=sort_key) if self.values else None


# name → (min args, max args, accumulator); pct's second argument is the percent.
AGGREGATES: dict[str, tuple[int, int, type[Accumulator]]] = {
    "count": (0, 1, Count),
    "count_distinct": (1, 1, CountDistinct),
    "sum": (1, 1, Sum),
    "avg": (1, 1, Avg),
    "min": (1, 1, Min),
    "max": (1, 1, Max),
    "stddev": (1, 1, StdDev),
    "pct": (2, 2, Percentile),
    "percentile": (2, 2, Percentile),
    "earliest": (1, 1, ByTime),
    "latest": (1, 1, Latest),
    "sortsfirst": (1, 1, SortsFirst),
    "sortslast": (1, 1, SortsLast),
}
