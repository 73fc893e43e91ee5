"""Tying the Lambda side of a failed call to the item the caller saw fail.

A call is an item of an execution: the caller's sources (the execution output, the execution
history) name every item, one entry each. Lambda's own sources (X-Ray, CloudWatch Logs) name the
request id instead, and the caller names it only when the call answered: the handler's result
and its error document carry ``requestId``, and Lambda writes ``RequestId: <id>`` into the
message of a timeout or a killed runtime (:func:`pclab.analysis.sources._common.error_request_id`).
An init error names none (its error document's ``requestId`` is empty), and a source may have
lost the line that would have named one. Such a Lambda-side record is an *orphan* here.

The rule (issue 13: a killed environment was counted twice, once per side): where the caller saw
the run, the caller's items are the calls, and an orphan is never a call of its own. It is tied
to one of the run's items that failed without a request id,

1. by time: its start (the ``AWS::Lambda`` segment) or end (the REPORT line) within half a
   second of the caller's attempt, nearest first (an inline Map's history has those times);
2. else by error and order: when every such item of the run failed with the same error (or the
   orphan's error picks out one kind), the next one in item order. Calls that failed the same way
   are alike, so which of them gets which trace changes no count; the report says how many were
   tied this way. An orphan whose error names a kind none of them failed with is not theirs;

and an orphan left over (a retried attempt, or more orphans than failed items) is reported as
not counted. Where no caller source saw the run at all, the Lambda side is all there is: its
records stay the calls.

Pure: records in, indices out (DESIGN.md: the analysis imports nothing else of pclab).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from pclab.analysis.model import THROTTLE_ERROR, Invocation, Source

CALLER_SOURCES = frozenset({Source.EXECUTION_OUTPUT, Source.EXECUTION_HISTORY})
LAMBDA_SOURCES = frozenset({Source.XRAY, Source.LOGS})
TIME_MATCH_SECONDS = 0.5  # Step Functions and Lambda clocks agree to milliseconds
_LABELS = ("state_machine", "function_name", "execution")


def same_run(a: Invocation, b: Invocation) -> bool:
    """No label (state machine, function, execution) says they belong to different runs."""
    for name in _LABELS:
        left, right = getattr(a, name), getattr(b, name)
        if left is not None and right is not None and left != right:
            return False
    return True


def compatible(a: Invocation, b: Invocation) -> bool:
    """Records that may be one call: the same run, and no source in both."""
    return same_run(a, b) and not (a.sources & b.sources)


@dataclass
class Ties:
    """What :func:`tie_lambda_side` decided, as indices into the calls it was given."""

    pairs: list[tuple[int, int]] = field(default_factory=list)  # (orphan, caller's call)
    untied: list[int] = field(default_factory=list)  # orphans of a run the caller saw: not calls
    by_order: int = 0  # pairs made by error and order, not time


def _labels(inv: Invocation) -> tuple[str | None, ...]:
    return tuple(getattr(inv, name) for name in _LABELS)


def _end(inv: Invocation) -> float | None:
    return inv.ended_at if inv.ended_at is not None else inv.reported_at


def tie_lambda_side(calls: Sequence[Invocation]) -> Ties:
    """Pair each orphan (Lambda-side only) with a caller's call that failed without a request
    id; see the module docstring for the order of evidence."""
    ties = Ties()
    orphans = [i for i, inv in enumerate(calls) if not inv.sources & CALLER_SOURCES]
    if not orphans or len(orphans) == len(calls):
        return ties
    # caller's calls grouped by their labels: one compatibility test per group, not per call
    runs: dict[tuple[str | None, ...], list[int]] = defaultdict(list)
    for index, inv in enumerate(calls):
        if inv.sources & CALLER_SOURCES:
            runs[_labels(inv)].append(index)
    open_calls = {
        key: [
            i
            for i in members
            if calls[i].request_id is None
            and not calls[i].sources & LAMBDA_SOURCES
            and calls[i].error != THROTTLE_ERROR  # a throttled call never reached the function
        ]
        for key, members in runs.items()
    }
    taken: set[int] = set()
    left = _tie_by_time(calls, orphans, open_calls, taken, ties)
    for orphan in left:
        inv = calls[orphan]
        keys = [key for key, members in runs.items() if same_run(calls[members[0]], inv)]
        choices = [i for key in keys for i in open_calls[key] if i not in taken]
        # records of one run carry different labels (a joined call knows its function, an
        # output-only one may not): ambiguous only if two of the choices are of different runs
        heads = [calls[runs[key][0]] for key in keys if open_calls[key]]
        one_run = all(same_run(a, b) for a, b in combinations(heads, 2))
        if one_run and choices:
            errors = {calls[i].error for i in choices}
            named = _specific(inv.error)
            if named is not None and named in errors:
                choices = [i for i in choices if calls[i].error == named]
                errors = {named}
            elif named is not None:
                errors = set()  # it failed another way: another call (another run's, say)
            if len(errors) == 1:
                target = min(choices, key=lambda i: _item_order(calls[i], i))
                taken.add(target)
                ties.pairs.append((orphan, target))
                ties.by_order += 1
                continue
        if keys:
            ties.untied.append(orphan)
    return ties


# What a Lambda-side source says when it does not name the error (X-Ray's fault flag, a REPORT
# status without an Error Type).
_UNNAMED_ERRORS = frozenset({"Error", "Lambda.Unknown", "Unhandled", "error", "timeout", "failure"})


def _specific(error: str | None) -> str | None:
    return None if error is None or error in _UNNAMED_ERRORS else error


def _item_order(inv: Invocation, index: int) -> tuple[float, int]:
    iteration = inv.iteration if inv.iteration is not None else float("inf")
    return (iteration, index)


def _tie_by_time(
    calls: Sequence[Invocation],
    orphans: list[int],
    open_calls: dict[tuple[str | None, ...], list[int]],
    taken: set[int],
    ties: Ties,
) -> list[int]:
    """Pairs by nearest start (or end); returns the orphans left, in time order."""
    starts: list[tuple[float, int]] = []
    ends: list[tuple[float, int]] = []
    for members in open_calls.values():
        for i in members:
            if calls[i].started_at is not None:
                starts.append((calls[i].started_at or 0.0, i))
            end = _end(calls[i])
            if end is not None:
                ends.append((end, i))
    starts.sort()
    ends.sort()
    left: list[int] = []
    order = sorted(orphans, key=lambda i: (calls[i].started_at or _end(calls[i]) or 0.0, i))
    for orphan in order:
        inv = calls[orphan]
        best = _nearest(starts, inv.started_at, inv, calls, taken)
        if best is None:
            best = _nearest(ends, _end(inv), inv, calls, taken)
        if best is None:
            left.append(orphan)
        else:
            taken.add(best)
            ties.pairs.append((orphan, best))
    return left


def _nearest(
    series: list[tuple[float, int]],
    when: float | None,
    inv: Invocation,
    calls: Sequence[Invocation],
    taken: set[int],
) -> int | None:
    if when is None or not series:
        return None
    best: int | None = None
    best_gap = TIME_MATCH_SECONDS
    position = bisect.bisect_left(series, (when - TIME_MATCH_SECONDS, -1))
    while position < len(series) and series[position][0] <= when + TIME_MATCH_SECONDS:
        moment, index = series[position]
        gap = abs(moment - when)
        if index not in taken and gap <= best_gap and compatible(calls[index], inv):
            best, best_gap = index, gap
        position += 1
    return best
