"""From source batches to the :class:`Analysis` the report renders: join, classify, summarise.

This is the one entry point the runner and ``pclab analyze`` share (DESIGN.md: ``pclab analyze``
enters at "sources"; everything below is the same code).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from pclab.analysis.cost import run_cost
from pclab.analysis.join import classify, join_invocations
from pclab.analysis.model import (
    INIT_TYPE_SNAPSTART,
    Analysis,
    Invocation,
    RunConfig,
    RunSummary,
    Source,
    SourceBatch,
    SourceCoverage,
)
from pclab.analysis.modelled import modelled_notes
from pclab.analysis.perf import without_gc
from pclab.analysis.stats import latency_stats, makespan, peak_concurrency

DEFAULT_MEMORY_MB = 128  # the template's MemorySize default
INLINE_MAP_LIMIT = 40  # FACTS.md: an inline Map runs at most 40 iterations at once

_SOURCE_NAMES = {
    Source.EXECUTION_OUTPUT: "execution output",
    Source.EXECUTION_HISTORY: "execution history",
    Source.XRAY: "X-Ray",
    Source.LOGS: "CloudWatch Logs",
}


@without_gc
def analyze(
    batches: Sequence[SourceBatch],
    configs: Sequence[RunConfig] = (),
    *,
    default_memory_mb: int | None = None,
) -> Analysis:
    """Join the batches' records per call, decide cold/PC per call, and summarise each run.

    ``configs`` say what the sources cannot (configured PC, items asked, Map concurrency). A
    config applies to the run of that name, or else to the run whose function has that name
    (``function_name`` or ``name``); a config matching no run still gets a column (a run that
    produced no calls is worth seeing). Runs without a config are summarised with what can be
    inferred (memory from REPORT lines, else ``default_memory_mb``), and the notes say what was
    assumed.
    """
    result = join_invocations(batches)
    joined, unplaced = result.calls, result.unplaced
    disagreements = classify(joined)
    invocations = [call.invocation for call in joined]
    _apply_config_labels(invocations, configs)

    runs: dict[str, list[Invocation]] = {}
    for inv in invocations:
        runs.setdefault(inv.run_key, []).append(inv)
    matched: dict[str, RunConfig] = {}
    for name, calls in runs.items():
        config = _config_for(name, calls, configs)
        if config is not None:
            matched[name] = config
    for config in configs:  # a config matching no run still gets its (empty) column
        if all(c is not config for c in matched.values()) and config.name not in runs:
            runs[config.name] = []
            matched[config.name] = config
    # the order the runs started in (the sample runs reserved, then provisioned); ties and runs
    # without calls in the configs' order
    position = {config.name: index for index, config in enumerate(configs)}
    ordered = dict(
        sorted(
            runs.items(),
            key=lambda item: (_first_start(item[1]), position.get(item[0], len(position))),
        )
    )

    notes: list[str] = []
    for batch in batches:
        if not batch.provided:
            reason = f": {batch.note}" if batch.note else ""
            notes.append(f"{_SOURCE_NAMES[batch.source]} not available{reason}")
        elif not batch.invocations:
            where = f" ({batch.origin})" if batch.origin else ""
            notes.append(f"{_SOURCE_NAMES[batch.source]}{where} had no records for these runs")
    if unplaced:
        notes.append(
            f"{len(unplaced)} record(s) had no request id, item id or matching time: "
            "shown as separate calls"
        )
    if result.untied:
        notes.append(
            f"{len(result.untied)} X-Ray/CloudWatch Logs record(s) named no item of the runs "
            "the execution saw (a retried attempt, or a failed call whose item was already "
            "tied): not counted as calls"
        )
    if result.tied_by_order:
        notes.append(
            f"{result.tied_by_order} failed call(s) named no request id (an init error does "
            "not): tied to their X-Ray/CloudWatch Logs records by error and item order, so "
            "their traces may be swapped between items that failed the same way"
        )

    notes.extend(modelled_notes(invocations))

    summaries: list[RunSummary] = []
    coverage: dict[str, tuple[SourceCoverage, ...]] = {}
    for name, calls in ordered.items():
        config = matched.get(name) or RunConfig(name=name, memory_mb=default_memory_mb)
        if config.memory_mb is None and default_memory_mb is not None:
            config = replace(config, memory_mb=default_memory_mb)
        summaries.append(summarise(name, calls, config))
        coverage[name] = _coverage(calls, batches)
    return Analysis(
        runs=tuple(summaries),
        invocations=tuple(invocations),
        disagreements=tuple(disagreements),
        coverage=coverage,
        notes=tuple(notes),
    )


def _first_start(calls: Sequence[Invocation]) -> float:
    starts = [interval[0] for inv in calls if (interval := inv.busy_interval) is not None]
    return min(starts) if starts else float("inf")


def _config_for(
    name: str, calls: Sequence[Invocation], configs: Sequence[RunConfig]
) -> RunConfig | None:
    for config in configs:
        if config.name == name:
            return config
    functions = Counter(inv.function_name for inv in calls if inv.function_name)
    if functions:
        function = functions.most_common(1)[0][0]
        for config in configs:
            if (config.function_name or config.name) == function:
                return config
    return None


def _apply_config_labels(invocations: Sequence[Invocation], configs: Sequence[RunConfig]) -> None:
    """Calls that name the function (not the state machine) join the run that calls it."""
    by_function = {c.function_name: c.name for c in configs if c.function_name}
    for inv in invocations:
        if inv.state_machine is None and inv.function_name in by_function:
            inv.state_machine = by_function[inv.function_name or ""]


def _coverage(
    calls: Sequence[Invocation], batches: Sequence[SourceBatch]
) -> tuple[SourceCoverage, ...]:
    total = len(calls)
    result: list[SourceCoverage] = []
    for source in Source:
        source_batches = [b for b in batches if b.source == source]
        provided = any(b.provided for b in source_batches)
        seen = sum(1 for inv in calls if source in inv.sources)
        note: str | None = None
        if not provided:
            given = [b.note for b in source_batches if b.note]
            note = given[0] if given else "not given"
        elif seen < total:
            note = f"saw {seen} of {total} calls"
            if source == Source.XRAY:
                note += " (X-Ray samples: 1 request per second plus 5 %, or the trace is late)"
            elif source == Source.LOGS:
                note += " (log events arrive some seconds after the call)"
        result.append(SourceCoverage(source, provided, seen, total, note))
    return tuple(result)


def asked_concurrency(config: RunConfig, items: int) -> int | None:
    """What the run asked for: every item at once, capped by the Map's concurrency limits.

    None when the items arrive over time: such a run asks for calls at their offsets, not for a
    concurrency; how many overlap is what the arrivals and the calls' own durations (cold ones
    longer) make of it, which ``peak`` measures. The item count would be misleading there.
    """
    wanted = config.items if config.items is not None else items
    if wanted == 0 or config.arrival_span_s is not None:
        return None
    if config.max_concurrency is None:
        return wanted
    if config.inline_map:
        cap = (
            INLINE_MAP_LIMIT
            if config.max_concurrency == 0
            else min(config.max_concurrency, INLINE_MAP_LIMIT)
        )
    else:
        cap = config.max_concurrency if config.max_concurrency > 0 else 10_000
    return min(wanted, cap)


def summarise(name: str, calls: Sequence[Invocation], config: RunConfig) -> RunSummary:
    """The :class:`RunSummary` of one run's joined, classified calls."""
    notes: list[str] = []
    memory = config.memory_mb
    if memory is None:
        seen_memory = Counter(inv.memory_mb for inv in calls if inv.memory_mb)
        if seen_memory:
            memory = seen_memory.most_common(1)[0][0]
        else:
            memory = DEFAULT_MEMORY_MB
            notes.append(f"memory size not known: assumed {DEFAULT_MEMORY_MB} MB for cost")

    pc_environments = {
        inv.environment_key for inv in calls if inv.served_by_pc and inv.environment_key
    }
    pc_units = config.provisioned_concurrency
    pc_served_any = any(inv.served_by_pc for inv in calls)
    if pc_units == 0 and pc_served_any:
        pc_units = len(pc_environments) or 1
        notes.append(
            f"configured provisioned concurrency not given: assumed {pc_units} "
            "(the provisioned environments seen)"
        )
    if pc_units == 0:
        for inv in calls:
            if inv.served_by_pc is None:
                inv.served_by_pc = False  # nothing is provisioned: every call is on-demand

    intervals = [interval for inv in calls if (interval := inv.busy_interval) is not None]
    span = makespan(intervals)
    peak = peak_concurrency(intervals)
    asked = asked_concurrency(config, len(calls))
    if (
        asked is not None
        and config.max_concurrency is None
        and config.inline_map
        and asked > INLINE_MAP_LIMIT
        and 0 < peak <= INLINE_MAP_LIMIT
    ):
        notes.append(
            f"peak {peak} of {asked} asked: an inline Map runs at most {INLINE_MAP_LIMIT} "
            "iterations at once, whatever MaxConcurrency says"
        )
    if config.arrival_span_s is not None:
        notes.append(
            f"{len(calls)} calls arrive over {config.arrival_span_s} s (startAfterSeconds): "
            "nothing asks for a concurrency, so none is shown as asked; the peak is what those "
            "arrivals and the calls' durations made"
        )

    enabled = config.pc_enabled_seconds
    if pc_units and enabled is None:
        enabled = span or 0.0
        notes.append(
            "PC cost counts only the run's own time (5-minute minimum); "
            "PC stays billed for as long as it is configured"
        )
    snapstart = any(inv.init_type == INIT_TYPE_SNAPSTART for inv in calls)
    if snapstart:
        notes.append(
            "SnapStart caching counts the 3-hour minimum; it stays billed for as long as the "
            "version is active"
        )
    cost = run_cost(
        calls,
        memory_mb=memory,
        provisioned_concurrency=pc_units,
        pc_enabled_seconds=enabled or 0.0,
        snapstart_active_seconds=(span or 0.0) if snapstart else 0.0,
    )
    if cost.billed_estimated:
        notes.append("billed duration estimated from handler times where REPORT lines were missing")

    cold = [inv for inv in calls if inv.cold]
    warm = [inv for inv in calls if inv.cold is False]
    unknown = sum(1 for inv in calls if inv.cold is None)
    if unknown:
        notes.append(f"{unknown} call(s) could not be classified cold or warm (no source said)")
    spillover = sum(1 for inv in calls if inv.served_by_pc is False) if pc_units else 0
    unattributed = sum(1 for inv in calls if inv.served_by_pc is None) if pc_units else 0
    if unattributed:
        # A handler that does not report AWS_LAMBDA_INITIALIZATION_TYPE leaves a warm call on a
        # PC qualifier open: a provisioned environment, or an on-demand one already warm.
        notes.append(
            f"{unattributed} warm call(s) on the provisioned qualifier could not be attributed to "
            "provisioned or on-demand environments (the handler does not report its "
            "initialization type): counted in neither 'served by PC' nor spillover; CloudWatch's "
            "ProvisionedConcurrencyInvocations (the metrics row) counts them"
        )
    qualifiers = Counter(inv.qualifier for inv in calls if inv.qualifier)
    functions = Counter(inv.function_name for inv in calls if inv.function_name)
    return RunSummary(
        name=name,
        function_name=config.function_name
        or (functions.most_common(1)[0][0] if functions else None),
        qualifier=config.qualifier or (qualifiers.most_common(1)[0][0] if qualifiers else None),
        memory_mb=memory,
        provisioned_concurrency=pc_units,
        invocations=len(calls),
        cold_starts=len(cold),
        cold_unknown=unknown,
        served_by_pc=sum(1 for inv in calls if inv.served_by_pc),
        spillover=spillover,
        throttles=sum(inv.throttles for inv in calls),
        retries=sum(inv.retries for inv in calls),
        errors=sum(1 for inv in calls if inv.error),
        environments=len({inv.environment_key for inv in calls if inv.environment_key}),
        latency_caller=latency_stats(inv.caller_latency_s for inv in calls),
        latency_caller_cold=latency_stats(inv.caller_latency_s for inv in cold),
        latency_caller_warm=latency_stats(inv.caller_latency_s for inv in warm),
        latency_handler=latency_stats(inv.handler_latency_s for inv in calls),
        init_duration=latency_stats(
            inv.init_duration_ms / 1000.0
            if inv.init_duration_ms is not None and inv.restore_duration_ms is None
            else None
            for inv in cold
        ),
        restore_duration=latency_stats(
            inv.restore_duration_ms / 1000.0 if inv.restore_duration_ms is not None else None
            for inv in cold
        ),
        peak_concurrency=peak,
        asked_concurrency=asked,
        makespan_s=span,
        cost=cost,
        overhead=latency_stats(inv.overhead_s for inv in calls),
        notes=tuple(notes),
    )
