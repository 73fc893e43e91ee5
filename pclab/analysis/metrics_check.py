"""CloudWatch's counts next to the run's own: the fifth source, checked against the other four.

The four per-call sources say what happened to each call; Lambda's CloudWatch metrics say how
many invocations, throttles and spillovers the function had in the run's minutes and how busy it
was at most. Where the two disagree something is off (another caller of the function in the
same minutes, calls a source missed, a call counted on the wrong side of PC), so each difference
becomes a run-level :class:`Disagreement` (no request or item id) with one readable sentence.

WHY not in the join: metrics are minute sums, not calls; they cannot say which call was which.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from pclab.analysis.model import (
    THROTTLE_ERROR,
    Analysis,
    Disagreement,
    MetricsView,
    RunSummary,
    Source,
)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _run_for(view: MetricsView, runs: tuple[RunSummary, ...]) -> RunSummary | None:
    """The run a view counts: its named run, else the run calling its function (and qualifier),
    else the only run when the view names no function."""
    if view.run is not None:
        return next((r for r in runs if r.name == view.run), None)
    if view.function_name is None:
        return runs[0] if len(runs) == 1 else None
    calling = [r for r in runs if r.function_name == view.function_name]
    if view.qualifier is not None and len(calling) > 1:
        calling = [r for r in calling if r.qualifier == view.qualifier]
    return calling[0] if len(calling) == 1 else None


def _history_read(analysis: Analysis, run: str) -> bool:
    return any(
        c.source == Source.EXECUTION_HISTORY and c.provided for c in analysis.coverage.get(run, ())
    )


def disagreements(
    run: RunSummary, view: MetricsView, *, history_read: bool = True
) -> list[Disagreement]:
    """Where CloudWatch's counts differ from the run's own; none when the view was not read.

    Lambda counts every invocation that reached the function, retries included, and not the
    throttled ones: the run's side of that is calls + retries - throttles. Fewer invocations
    than that means the metrics are not all there yet (AWS publishes them minutes late): then
    only that is said, since every other count would be short for the same reason.
    """
    if not view.provided:
        return []
    found: list[Disagreement] = []

    def differ(topic: str, message: str) -> None:
        found.append(Disagreement(None, None, run.name, topic, message))

    reached = run.invocations + run.retries - run.throttles
    if view.invocations is not None and view.invocations != reached:
        own = f"the run's sources {reached} (calls and retries that reached the function)"
        if view.invocations < reached:
            differ(
                "metrics-invocations",
                f"CloudWatch counts {_plural(view.invocations, 'invocation')}, {own}: its "
                "metrics are not all there yet (AWS publishes them minutes late), so the "
                "other counts were not compared",
            )
            return found
        differ(
            "metrics-invocations",
            f"CloudWatch counts {_plural(view.invocations, 'invocation')}, {own}: another caller "
            f"of {run.function_name or 'the function'} in the same minutes, or calls the "
            "sources missed",
        )
    if view.throttles is not None and view.throttles != run.throttles:
        where = "the execution history" if history_read else "the run's sources (no history read)"
        differ(
            "metrics-throttles",
            f"CloudWatch counts {_plural(view.throttles, 'throttle')}, {where} {run.throttles}",
        )
    pc = run.provisioned_concurrency > 0
    if view.spillover is not None and (pc or view.spillover) and view.spillover != run.spillover:
        differ(
            "metrics-spillover",
            f"CloudWatch counts {view.spillover} spillover invocation(s), the run's own "
            f"classification {run.spillover}",
        )
    served = view.served_by_pc
    if served is not None and (pc or served) and served != run.served_by_pc:
        differ(
            "metrics-served-by-pc",
            f"CloudWatch counts {served} invocation(s) served by provisioned concurrency, the "
            f"run's own classification {run.served_by_pc}",
        )
    peak = view.peak_concurrent_executions
    if peak is not None and peak != run.peak_concurrency:
        why = (
            "the function also ran other calls in those minutes"
            if peak > run.peak_concurrency
            else "the caller's view includes Step Functions' time around each call, and "
            "CloudWatch may miss a peak shorter than its sampling"
        )
        differ(
            "metrics-peak-concurrency",
            f"CloudWatch's peak ConcurrentExecutions is {peak}, the run's own peak of "
            f"overlapping calls {run.peak_concurrency} ({why})",
        )
    return found


def with_metrics(analysis: Analysis, views: Iterable[MetricsView]) -> Analysis:
    """The analysis with each view under its run's name, its disagreements and its notes.

    A view that was not read becomes a note (like a missing source); one that matches no run
    becomes a note too, and is not compared.
    """
    metrics = dict(analysis.metrics)
    found = list(analysis.disagreements)
    notes = list(analysis.notes)
    runs = list(analysis.runs)
    for view in views:
        run = _run_for(view, tuple(runs))
        if run is None:
            what = view.function_name or view.origin or "a function"
            notes.append(f"CloudWatch metrics of {what} match no run of the report: not compared")
            continue
        metrics[run.name] = view
        if not view.provided:
            reason = f": {view.note}" if view.note else ""
            notes.append(f"CloudWatch metrics of {run.name} not available{reason}")
            continue
        if view.note:
            notes.append(f"CloudWatch metrics of {run.name}: {view.note}")
        history_read = _history_read(analysis, run.name)
        if not history_read and view.throttles and not run.throttles:
            counted = _throttles_from_metrics(analysis, run, view.throttles)
            runs[runs.index(run)] = counted
            run = counted
        found.extend(disagreements(run, view, history_read=history_read))
    return replace(
        analysis,
        runs=tuple(runs),
        metrics=metrics,
        disagreements=tuple(found),
        notes=tuple(notes),
    )


def _throttles_from_metrics(analysis: Analysis, run: RunSummary, throttles: int) -> RunSummary:
    """The run's throttles (and the retries they caused) as CloudWatch counted them.

    Only the execution history counts throttled attempts per call, and a Distributed Map's
    children keep none (EXPRESS executions, on AWS too): without it the run's own count is a
    silent 0. Every throttled attempt was retried, except the last of an item that ran out of
    retries (its error says so).
    """
    out_of_retries = sum(
        1 for inv in analysis.invocations if inv.run_key == run.name and inv.error == THROTTLE_ERROR
    )
    note = (
        f"throttles: CloudWatch's count ({throttles}); the execution history that counts them per "
        "call is not available (a Distributed Map's children keep none), so which calls were "
        "throttled is not known"
    )
    return replace(
        run,
        throttles=throttles,
        retries=run.retries + max(0, throttles - out_of_retries),
        notes=(*run.notes, note),
    )
