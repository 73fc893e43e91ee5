"""The terminal report: one rich table with the runs side by side, then notes and disagreements.

The same rows feed the HTML page (:func:`summary_rows`), so the terminal and the page never say
different things.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from pclab.analysis.model import Analysis, Disagreement, LatencyStats, RunSummary, Source

_SHORT_SOURCE = {
    Source.EXECUTION_OUTPUT: "output",
    Source.EXECUTION_HISTORY: "history",
    Source.XRAY: "X-Ray",
    Source.LOGS: "logs",
}
MAX_DISAGREEMENTS_SHOWN = 10


def seconds(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f} s"


def _percentiles(stats: LatencyStats) -> str:
    if stats.count == 0:
        return "—"
    parts = (stats.p50, stats.p90, stats.p99, stats.max)
    return " / ".join("—" if v is None else f"{v:.2f}" for v in parts) + " s"


def _dollars(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def _share(part: int, whole: int) -> str:
    return f"{part}" if whole == 0 else f"{part} ({100.0 * part / whole:.0f} %)"


def _pc_part(run: RunSummary) -> str:
    if not run.provisioned_concurrency:
        return ""
    minutes = run.cost.pc_enabled_seconds / 60
    return f" (PC {_dollars(run.cost.pc_allocation_usd)} for {minutes:.0f} min)"


def _coverage(analysis: Analysis, run: RunSummary) -> str:
    parts = []
    for coverage in analysis.coverage.get(run.name, ()):
        name = _SHORT_SOURCE[coverage.source]
        parts.append(
            f"{name} {coverage.seen}/{coverage.total}" if coverage.provided else f"{name} —"
        )
    return ", ".join(parts)


def _count(value: int | None) -> str:
    return "—" if value is None else str(value)


def _cloudwatch(analysis: Analysis, run: RunSummary) -> str:
    """CloudWatch's throttles / spillover / peak ConcurrentExecutions for the run."""
    view = analysis.metrics.get(run.name)
    if view is None:
        return "—"
    if not view.provided:
        return "not available (see notes)"
    spillover = _count(view.spillover) if view.spillover or run.provisioned_concurrency else "—"
    return f"{_count(view.throttles)} / {spillover} / {_count(view.peak_concurrent_executions)}"


_CFN_SUFFIX = re.compile(r"-[A-Za-z0-9]{8,13}$")  # the random part CloudFormation appends


def _boundary(name: str, at: int) -> bool:
    """Whether a title may start or end at ``name[at]``: a word starts there (CamelCase, after
    a dash, underscore, slash, colon or dot)."""
    return at in (0, len(name)) or name[at].isupper() or name[at - 1] in "-_ /:."


def column_titles(names: Sequence[str]) -> list[str]:
    """What tells the runs apart, as column titles that fit 80 columns: the names without
    CloudFormation's random suffix and the words all of them share ("Base", "Provisioned",
    "SnapStart" for the sample's state machines); the names themselves when that leaves a title
    empty or two alike, or for one run."""
    bases = [_CFN_SUFFIX.sub("", name) for name in names]
    if len(bases) < 2:
        return list(names)
    shortest = min(len(b) for b in bases)
    head = 0
    while head < shortest and len({b[head] for b in bases}) == 1:
        head += 1
    while head and not all(_boundary(b, head) for b in bases):
        head -= 1
    tail = 0
    while tail < shortest - head and len({b[len(b) - 1 - tail] for b in bases}) == 1:
        tail += 1
    while tail and not all(_boundary(b, len(b) - tail) for b in bases):
        tail -= 1
    titles = [b[head : len(b) - tail].strip("-_ /:.") for b in bases]
    if not all(titles) or len(set(titles)) < len(titles):
        return list(names)
    return titles


def subject(disagreement: Disagreement) -> str:
    """What a disagreement is about: a call (request or item) or, for metrics, the whole run."""
    if disagreement.request_id:
        return disagreement.request_id
    return "run" if disagreement.item_id is None else f"item {disagreement.item_id}"


def summary_rows(analysis: Analysis) -> list[tuple[str, list[str]]]:
    """(label, one cell per run) for every row of the side-by-side comparison."""
    runs = analysis.runs
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, cells: Sequence[str]) -> None:
        rows.append((label, list(cells)))

    row(
        "Function",
        [f"{r.function_name or '?'}{':' + r.qualifier if r.qualifier else ''}" for r in runs],
    )
    row("Provisioned concurrency", [str(r.provisioned_concurrency) for r in runs])
    row("Calls", [str(r.invocations) for r in runs])
    row(
        "Cold starts (caller waited for init)",
        [
            _share(r.cold_starts, r.invocations)
            + (f", {r.cold_unknown} unknown" if r.cold_unknown else "")
            for r in runs
        ],
    )
    row("Served by provisioned concurrency", [_share(r.served_by_pc, r.invocations) for r in runs])
    row(
        "Spillover to on-demand",
        [str(r.spillover) if r.provisioned_concurrency else "— (no PC)" for r in runs],
    )
    row("Throttles / retries", [f"{r.throttles} / {r.retries}" for r in runs])
    row("Errors", [str(r.errors) for r in runs])
    row("Execution environments", [str(r.environments) for r in runs])
    row("Latency p50/p90/p99/max (caller)", [_percentiles(r.latency_caller) for r in runs])
    row("  cold calls p50", [seconds(r.latency_caller_cold.p50) for r in runs])
    row("  warm calls p50", [seconds(r.latency_caller_warm.p50) for r in runs])
    row("Handler only p50/p90/p99/max", [_percentiles(r.latency_handler) for r in runs])
    row("Init duration p50 (cold calls)", [seconds(r.init_duration.p50) for r in runs])
    if any(r.restore_duration.count for r in runs):  # SnapStart: restores, not inits
        row("Restore duration p50 (cold calls)", [seconds(r.restore_duration.p50) for r in runs])
    row(
        "Overhead p50 / max (caller - handler - init)",
        [f"{seconds(r.overhead.p50)} / {seconds(r.overhead.max)}" for r in runs],
    )
    row(
        "Peak concurrency reached / asked",
        [
            f"{r.peak_concurrency} / {'?' if r.asked_concurrency is None else r.asked_concurrency}"
            for r in runs
        ],
    )
    if analysis.metrics:
        row("CloudWatch: throttles / spillover / peak", [_cloudwatch(analysis, r) for r in runs])
    row("Makespan (first start to last end)", [seconds(r.makespan_s, 1) for r in runs])
    row(
        "Billed GB-s on-demand / PC-served",
        [
            f"{r.cost.on_demand_gb_seconds:.1f} / {r.cost.pc_served_gb_seconds:.1f}"
            + (" (est.)" if r.cost.billed_estimated else "")
            for r in runs
        ],
    )
    row(
        "Cost of this run",
        [_dollars(r.cost.total_usd) + _pc_part(r) for r in runs],
    )
    row(
        "PC cost per hour while configured",
        [_dollars(r.cost.pc_hourly_usd) if r.provisioned_concurrency else "—" for r in runs],
    )
    row("Sources (calls seen)", [_coverage(analysis, r) for r in runs])
    return rows


def headline(analysis: Analysis) -> list[str]:
    """One sentence per run: the answer, before the details."""
    lines = []
    for run in analysis.runs:
        text = f"{run.name}: {run.cold_starts} of {run.invocations} calls cold"
        cold, warm = run.latency_caller_cold.p50, run.latency_caller_warm.p50
        if cold is not None and warm is not None:
            text += f" (cold p50 {cold:.2f} s vs warm p50 {warm:.2f} s)"
        elif warm is not None:
            text += f" (warm p50 {warm:.2f} s)"
        elif cold is not None:
            text += f" (cold p50 {cold:.2f} s)"
        if run.provisioned_concurrency:
            text += (
                f"; {run.served_by_pc} served by provisioned concurrency, "
                f"{run.spillover} spillover; "
                f"PC of {run.provisioned_concurrency} costs {_dollars(run.cost.pc_hourly_usd)}/h"
                " while configured"
            )
        lines.append(text + ".")
    return lines


def all_notes(analysis: Analysis) -> list[str]:
    """Analysis-wide notes, then each run's notes prefixed with the run name."""
    notes = list(analysis.notes)
    for run in analysis.runs:
        notes.extend(f"{run.name}: {note}" for note in run.notes)
    return notes


def render_table(analysis: Analysis, console: Console) -> None:
    """Print the side-by-side table, the notes, and the first disagreements."""
    if not analysis.runs:
        console.print("No calls found in the given sources.")
        return
    table = Table(
        title="Cold starts and provisioned concurrency", title_style="bold", show_lines=False
    )
    table.add_column("", style="bold")
    names = [run.name for run in analysis.runs]
    titles = column_titles(names)
    for title in titles:
        table.add_column(title, overflow="fold")
    if titles != names:  # short titles: the full names in the first row
        table.add_row("State machine", *names)
    for label, cells in summary_rows(analysis):
        table.add_row(label, *cells)
    console.print(table)
    for line in headline(analysis):
        console.print(f"[bold]{line}[/bold]", highlight=False)
    for note in all_notes(analysis):
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    disagreements = analysis.disagreements
    if disagreements:
        console.print(f"[magenta]{len(disagreements)} disagreement(s) between sources[/magenta]:")
        for d in disagreements[:MAX_DISAGREEMENTS_SHOWN]:
            console.print(f"  {d.run} {subject(d)}: {d.message}", highlight=False)
        if len(disagreements) > MAX_DISAGREEMENTS_SHOWN:
            console.print(
                f"  ... and {len(disagreements) - MAX_DISAGREEMENTS_SHOWN} more in report.json"
            )
