"""Joining the sources: one record per call, what the caller saw, and where the sources disagree.

Records of one call are merged by Lambda request id. A record without one (an item that failed
before reaching the function, an X-Ray segment without ``aws.request_id``) is matched by item id,
else by start time within the same function, else kept on its own.

For each field a fixed source order decides which value wins (the caller view from the execution
history, the billing from REPORT lines, init timing from X-Ray, ...), see ``_FIELD_ORDER``.

Cold as the caller saw it (FACTS.md: ``Init Duration`` alone does not prove it, because a
provisioned environment may be re-initialised long before anyone calls it) is decided from the
strongest evidence present:

1. timing: the init was still running when the caller's attempt started and did not begin more
   than a second before it (X-Ray Initialization or the handler's init times against the Step
   Functions / AWS::Lambda start; a provisioned environment's Initialization can reach from its
   pre-initialisation to its first call);
2. X-Ray: an Initialization subsegment in this call's trace;
3. the handler: first invocation of an environment that was not provisioned;
4. logs: an ``Init Duration`` on a call not served by provisioned concurrency.

Where weaker evidence contradicts the decision, a :class:`Disagreement` says so.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from operator import attrgetter

from pclab.analysis.model import (
    INIT_TYPE_PROVISIONED,
    Disagreement,
    Invocation,
    Source,
    SourceBatch,
)
from pclab.analysis.tie import compatible, tie_lambda_side

_OUT = Source.EXECUTION_OUTPUT
_HIS = Source.EXECUTION_HISTORY
_XRAY = Source.XRAY
_LOGS = Source.LOGS
_DEFAULT_ORDER = (_OUT, _HIS, _XRAY, _LOGS)
_FIELD_ORDER: dict[str, tuple[Source, ...]] = {
    # the caller's view: Step Functions first, then the AWS::Lambda segment
    "scheduled_at": (_HIS, _XRAY),
    "started_at": (_HIS, _XRAY),
    "ended_at": (_HIS, _XRAY),
    # billing is Lambda's own REPORT line
    "duration_ms": (_LOGS,),
    "billed_duration_ms": (_LOGS,),
    "memory_mb": (_LOGS,),
    "max_memory_used_mb": (_LOGS,),
    "reported_at": (_LOGS,),
    "log_stream": (_LOGS,),
    # Lambda's measure of init before the handler's own
    "init_duration_ms": (_LOGS, _XRAY, _OUT, _HIS),
    "init_start": (_XRAY, _OUT, _HIS),
    "init_end": (_XRAY, _OUT, _HIS),
    "xray_initialization": (_XRAY,),
    "function_name": (_HIS, _XRAY, _OUT, _LOGS),
    "qualifier": (_HIS, _XRAY, _OUT, _LOGS),
    "function_version": (_HIS, _OUT, _LOGS, _XRAY),
    "error": (_HIS, _OUT, _XRAY, _LOGS),
    "error_cause": (_HIS, _OUT, _XRAY, _LOGS),
}
# The caller's verdict on success: where Step Functions saw the call, a flag on an X-Ray segment
# (a 4xx inside the handler, say) does not make a succeeded item an error.
_CALLER_VERDICT = frozenset({"error", "error_cause"})
_SKIP = {"sources", "retries", "throttles", "cold", "served_by_pc"}
_MERGED_FIELDS: tuple[tuple[str, tuple[Source, ...]], ...] = tuple(
    (f.name, _FIELD_ORDER.get(f.name, _DEFAULT_ORDER))
    for f in fields(Invocation)
    if f.name not in _SKIP
)
_HANDLER_FIELDS = (
    "request_id",
    "item_id",
    "environment_id",
    "first_invocation",
    "init_type",
    "handler_start",
    "handler_end",
    "function_version",
    "init_duration_ms",
    "init_start",
    "init_end",
    "error",
    "error_cause",
)
# The fields each adapter can fill (tests/analysis check every adapter against this). Merging
# only looks where a value can be: merging is the analysis' hottest loop.
PROVIDES: dict[Source, frozenset[str]] = {
    _OUT: frozenset(
        (*_HANDLER_FIELDS, "state_machine", "execution", "iteration", "function_name", "qualifier")
    ),
    _HIS: frozenset(
        (
            *_HANDLER_FIELDS,
            "state_machine",
            "execution",
            "iteration",
            "function_name",
            "qualifier",
            "scheduled_at",
            "started_at",
            "ended_at",
            "trace_id",
        )
    ),
    _XRAY: frozenset(
        (
            "state_machine",
            "trace_id",
            "function_name",
            "qualifier",
            "request_id",
            "started_at",
            "ended_at",
            "error",
            "first_invocation",
            "xray_initialization",
            "init_start",
            "init_end",
            "init_duration_ms",
            "handler_start",
            "handler_end",
            "platform_model",
        )
    ),
    _LOGS: frozenset(
        (
            "request_id",
            "duration_ms",
            "billed_duration_ms",
            "memory_mb",
            "max_memory_used_mb",
            "init_duration_ms",
            "log_stream",
            "function_version",
            "function_name",
            "reported_at",
            "trace_id",
            "init_type",
            "error",
        )
    ),
}
_Plan = tuple[tuple[str, tuple[tuple[Source, int], ...]], ...]
_PLANS: dict[frozenset[Source], _Plan] = {}
_GETTERS = {
    source: attrgetter(*sorted(names)) for source, names in PROVIDES.items()
}  # C-level: one call reads all the fields a source fills
_POSITIONS = {
    source: {name: i for i, name in enumerate(sorted(names))} for source, names in PROVIDES.items()
}


def _plan(present: frozenset[Source]) -> _Plan:
    """For each field, where to look (source, position in its getter's tuple), in order."""
    plan = _PLANS.get(present)
    if plan is None:
        caller_saw_it = _HIS in present or _OUT in present
        steps = []
        for name, order in _MERGED_FIELDS:
            if caller_saw_it and name in _CALLER_VERDICT:
                order = (_HIS, _OUT)
            where = tuple(
                (source, _POSITIONS[source][name])
                for source in order
                if source in present and name in PROVIDES[source]
            )
            if where:
                steps.append((name, where))
        plan = _PLANS[present] = tuple(steps)
    return plan


_TIME_MATCH_SECONDS = 0.5
# An init that began this long before the call started was not caused by it (clock skew between
# Step Functions and Lambda is milliseconds; a caller-caused init begins after the call starts).
PRE_INITIALISED_SECONDS = 1.0


@dataclass
class Joined:
    """A merged call and the record each source gave for it (to explain disagreements)."""

    invocation: Invocation
    by_source: dict[Source, Invocation]


def _merge(records: Sequence[Invocation]) -> Joined:
    by_source: dict[Source, Invocation] = {}
    for record in records:
        for source in record.sources:
            by_source.setdefault(source, record)
    if len(records) == 1:
        # a copy: classification writes to the merged record, never to an adapter's output
        only = records[0]
        return Joined(replace(only, sources=set(only.sources)), by_source)
    values = {source: _GETTERS[source](record) for source, record in by_source.items()}
    merged_fields: dict[str, object] = {}
    for name, where in _plan(frozenset(by_source)):
        for source, position in where:
            value = values[source][position]
            if value is not None:
                merged_fields[name] = value
                break
    merged = Invocation(**merged_fields)  # type: ignore[arg-type]
    xray = by_source.get(_XRAY)
    if merged.platform_model and xray is not None and xray.started_at and xray.ended_at:
        # The local cloud's platform model times the Lambda service's view (X-Ray's AWS::Lambda
        # segment: accepted, then answered inside the environment); Step Functions' history is
        # stamped by moto's interpreter when this busy machine got round to it (modelled.py).
        merged.started_at, merged.ended_at = xray.started_at, xray.ended_at
    merged.retries = max(r.retries for r in records)
    merged.throttles = max(r.throttles for r in records)
    merged.sources = set().union(*(r.sources for r in records))
    return Joined(merged, by_source)


def _absorb(joined: Joined, record: Invocation) -> Joined:
    originals = list({id(r): r for r in joined.by_source.values()}.values())
    return _merge([*originals, record])


@dataclass
class JoinResult:
    """The calls, and what the join could not place (for the report's notes)."""

    calls: list[Joined]
    unplaced: list[Invocation]  # no request id, item id or time placed them: calls on their own
    untied: list[Invocation]  # Lambda-side records no failed item could take: not calls
    tied_by_order: int = 0  # failed items given their Lambda-side record by error and order


def join_invocations(batches: Iterable[SourceBatch]) -> JoinResult:
    """Merge the batches' records into one :class:`Joined` per call.

    Where a caller's source (execution output or history) saw a run, its items are the calls:
    a Lambda-side record that names no item is tied to a failed item or left out, never counted
    as a call of its own (:mod:`pclab.analysis.tie`).
    """
    by_request: dict[str, list[Invocation]] = {}
    pending: list[Invocation] = []
    for batch in batches:
        for record in batch.invocations:
            if record.request_id:
                by_request.setdefault(record.request_id, []).append(record)
            else:
                pending.append(record)
    joined = [_merge(group) for group in by_request.values()]
    # An execution's records that joined by request id name its function: records of the same
    # execution without a request id (an output error entry) belong to that function too. Only
    # where the execution names one function: saved files of two runs may share a name (two
    # raw/<state machine>/describe-execution.json), and then the state machine must agree.
    execution_functions: dict[str, set[tuple[str | None, str]]] = defaultdict(set)
    for call in joined:
        inv = call.invocation
        if inv.execution and inv.function_name:
            execution_functions[inv.execution].add((inv.state_machine, inv.function_name))
    pending = [_function_of_execution(r, execution_functions) for r in pending]

    by_item: dict[str, list[int]] = defaultdict(list)
    for index, call in enumerate(joined):
        if call.invocation.item_id is not None:
            by_item[call.invocation.item_id].append(index)
    unplaced: list[Invocation] = []
    timed: list[Invocation] = []
    for record in pending:
        if record.item_id is not None:
            candidates = [
                i
                for i in by_item.get(record.item_id, ())
                if compatible(joined[i].invocation, record)
            ]
            if len(candidates) == 1:
                joined[candidates[0]] = _absorb(joined[candidates[0]], record)
                continue
            if not candidates:
                # another record without a request id for the same item (say an output error entry
                # and its history TaskFailed) may come later: index this one
                by_item[record.item_id].append(len(joined))
                joined.append(_merge([record]))
                continue
        timed.append(record)
    _match_by_time(joined, timed, unplaced)
    return _tie(joined, unplaced)


def _function_of_execution(
    record: Invocation, known: dict[str, set[tuple[str | None, str]]]
) -> Invocation:
    if record.function_name is not None or record.execution not in known:
        return record
    seen = known[record.execution]
    functions = {f for machine, f in seen if record.state_machine in (None, machine)}
    if len(functions) != 1:
        return record
    return replace(record, function_name=functions.pop())


def _tie(joined: list[Joined], unplaced: list[Invocation]) -> JoinResult:
    """Fold each orphan (a Lambda-side record of a run the caller saw) into its item, or out."""
    ties = tie_lambda_side([call.invocation for call in joined])
    if not ties.pairs and not ties.untied:
        return JoinResult(joined, unplaced, [])
    for orphan, target in ties.pairs:
        originals = {id(r): r for r in joined[target].by_source.values()}
        originals.update({id(r): r for r in joined[orphan].by_source.values()})
        joined[target] = _merge(list(originals.values()))
    gone = {orphan for orphan, _ in ties.pairs} | set(ties.untied)
    untied = [joined[i].invocation for i in ties.untied]
    dropped = {id(r) for i in gone for r in joined[i].by_source.values()}
    calls = [call for index, call in enumerate(joined) if index not in gone]
    unplaced = [r for r in unplaced if id(r) not in dropped]
    return JoinResult(calls, unplaced, untied, ties.by_order)


def _match_by_time(
    joined: list[Joined], records: list[Invocation], unplaced: list[Invocation]
) -> None:
    """Place records that have neither request id nor a usable item id by start time."""
    if not records:
        return
    starts: dict[str | None, list[tuple[float, int]]] = defaultdict(list)
    for index, call in enumerate(joined):
        start = call.invocation.started_at
        if start is not None:
            starts[call.invocation.function_name].append((start, index))
    for series in starts.values():
        series.sort()
    for record in records:
        series = starts.get(record.function_name, [])
        best: int | None = None
        if record.started_at is not None and series:
            position = bisect.bisect_left(series, (record.started_at - _TIME_MATCH_SECONDS, -1))
            best_gap = _TIME_MATCH_SECONDS
            while position < len(series) and series[position][0] <= record.started_at + best_gap:
                start, index = series[position]
                gap = abs(start - record.started_at)
                if gap <= best_gap and compatible(joined[index].invocation, record):
                    best, best_gap = index, gap
                position += 1
        if best is None:
            unplaced.append(record)
            joined.append(_merge([record]))
        else:
            joined[best] = _absorb(joined[best], record)


def _handler_record(call: Joined) -> Invocation | None:
    for source in (_OUT, _HIS):
        record = call.by_source.get(source)
        if record is not None and record.first_invocation is not None:
            return record
    return None


def _describe_handler(record: Invocation) -> str:
    kind = record.init_type or "unknown"
    if record.first_invocation:
        return f"handler says first call of its environment ({kind})"
    return "handler says warm (not its environment's first call)"


def classify(joined: Sequence[Joined]) -> list[Disagreement]:
    """Decide ``cold`` and ``served_by_pc`` for every call; return the disagreements found."""
    _share_environment_facts(joined)
    disagreements: list[Disagreement] = []
    for call in joined:
        inv = call.invocation
        handler = _handler_record(call)
        handler_cold = (
            bool(handler.first_invocation and handler.init_type != INIT_TYPE_PROVISIONED)
            if handler is not None
            else None
        )
        xray = call.by_source.get(_XRAY)
        xray_cold = xray.xray_initialization if xray is not None else None
        logs = call.by_source.get(_LOGS)
        logs_init = (logs.init_duration_ms is not None) if logs is not None else None

        timing_cold: bool | None = None
        if inv.init_end is not None and inv.started_at is not None:
            # The caller waited if the init was still running when the call started and did not
            # begin long before it: a provisioned environment's Initialization may span from its
            # pre-initialisation to its first call (AWS's X-Ray notes), which nobody waited for.
            began_before = (
                inv.init_start is not None
                and inv.init_start < inv.started_at - PRE_INITIALISED_SECONDS
            )
            timing_cold = inv.init_end > inv.started_at and not began_before
        if timing_cold is not None:
            inv.cold, basis = timing_cold, "timing"
        elif xray_cold is not None:
            inv.cold, basis = xray_cold, "xray"
        elif handler_cold is not None:
            inv.cold, basis = handler_cold, "handler"
        elif logs_init is not None:
            inv.cold, basis = logs_init and inv.init_type != INIT_TYPE_PROVISIONED, "logs"
        else:
            inv.cold, basis = None, "none"

        if inv.init_type and inv.init_type != "unknown":
            inv.served_by_pc = inv.init_type == INIT_TYPE_PROVISIONED
        elif inv.cold:
            inv.served_by_pc = False  # a caller-visible init is an on-demand environment

        disagreements.extend(
            _disagreements(call, basis, handler, handler_cold, xray_cold, logs_init)
        )
    return disagreements


def _disagreements(
    call: Joined,
    basis: str,
    handler: Invocation | None,
    handler_cold: bool | None,
    xray_cold: bool | None,
    logs_init: bool | None,
) -> list[Disagreement]:
    inv = call.invocation
    found: list[Disagreement] = []

    def note(topic: str, message: str) -> None:
        found.append(Disagreement(inv.request_id, inv.item_id, inv.run_key, topic, message))

    timing = ""
    if basis == "timing" and inv.init_end is not None and inv.started_at is not None:
        gap = inv.started_at - inv.init_end
        lead = inv.started_at - inv.init_start if inv.init_start is not None else 0.0
        if gap >= 0:
            timing = f"init ended {gap:.2f} s before the call started"
        elif lead > PRE_INITIALISED_SECONDS:
            timing = (
                f"that init began {lead:.1f} s before the call (pre-initialised, as provisioned "
                "environments are)"
            )
        else:
            timing = f"init was still running when the call started ({-gap:.2f} s left)"
    xray_text = (
        "X-Ray shows Initialization in this call's trace"
        if xray_cold
        else "X-Ray shows no Initialization"
    )
    if handler is not None and handler_cold is not None and handler_cold != inv.cold:
        evidence = timing if basis == "timing" else xray_text if basis == "xray" else ""
        if evidence:
            note("cold", f"{_describe_handler(handler)}, but {evidence}")
    if (
        xray_cold is not None
        and basis == "timing"
        and xray_cold != inv.cold
        and not (xray_cold and inv.served_by_pc)
    ):
        note("cold", f"{xray_text}, but {timing}")
    if logs_init is not None and logs_init != bool(inv.cold):
        if logs_init and inv.served_by_pc:
            note(
                "init-duration",
                "REPORT shows Init Duration, but a provisioned environment served the call "
                "(initialised before it): not counted as a caller-visible cold start",
            )
        elif logs_init:
            note("init-duration", f"REPORT shows Init Duration, but the call was warm ({basis})")
        elif inv.cold:
            note("init-duration", f"REPORT has no Init Duration, but the call was cold ({basis})")
    return found


def _share_environment_facts(joined: Sequence[Joined]) -> None:
    """An environment's init type applies to all its calls; so does its run label."""
    init_types: dict[str, str] = {}
    machines: dict[str, str] = {}
    for call in joined:
        inv = call.invocation
        key = inv.environment_key
        if key and inv.init_type and inv.init_type != "unknown":
            init_types.setdefault(key, inv.init_type)
        if inv.function_name and inv.state_machine:
            machines.setdefault(inv.function_name, inv.state_machine)
    for call in joined:
        inv = call.invocation
        key = inv.environment_key
        if key and (inv.init_type is None or inv.init_type == "unknown") and key in init_types:
            inv.init_type = init_types[key]
        if inv.state_machine is None and inv.function_name in machines:
            inv.state_machine = machines[inv.function_name or ""]
