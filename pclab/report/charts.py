"""PNG charts (matplotlib, Agg backend: no display needed).

- a timeline per run, one row per execution environment, drawn like the X-Ray timeline:
  the init the caller waited for and each invocation as different bars, over the caller's wait;
- latency distributions, cold vs warm, one panel per run on a shared axis.

Colours carry the story and stay the same everywhere: orange = init / cold, blue = invocation on
an on-demand environment / warm, green = invocation on a provisioned environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from pclab.analysis.model import Analysis, Invocation

INIT_COLOR = "#e8743b"
ON_DEMAND_COLOR = "#2f6db3"
PC_COLOR = "#1a9e77"
CALLER_COLOR = "#c9ced6"
RESTORE_COLOR = "#b07aa1"  # SnapStart: a restore from the snapshot, not an init
MAX_LABELLED_ROWS = 40
DPI = 110


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name).strip("-") or "run"


def _call_start(inv: Invocation) -> float | None:
    interval = inv.busy_interval
    candidates = [t for t in (inv.started_at, interval[0] if interval else None) if t is not None]
    if inv.cold and inv.init_start is not None:
        candidates.append(inv.init_start)
    return min(candidates) if candidates else None


def _run_origin(calls: Sequence[Invocation]) -> float | None:
    starts = [s for s in (_call_start(inv) for inv in calls) if s is not None]
    return min(starts) if starts else None


def _run_length(calls: Sequence[Invocation], origin: float) -> float:
    ends = [origin]
    for inv in calls:
        interval = inv.busy_interval
        ends.extend(t for t in (inv.ended_at, interval[1] if interval else None) if t is not None)
    return max(ends) - origin


def timeline_chart(
    analysis: Analysis, run: str, path: Path, *, x_max: float | None = None
) -> Path | None:
    """One row per execution environment: caller wait (grey), init (orange), invocations.

    Returns None when no call of the run has times to draw.
    """
    calls = [inv for inv in analysis.run_invocations(run) if inv.busy_interval is not None]
    origin = _run_origin(calls)
    if origin is None:
        return None
    rows: dict[str, int] = {}
    for inv in calls:  # start order: rows appear top-down as environments came into use
        key = inv.environment_key or f"call {inv.request_id or inv.item_id}"
        rows.setdefault(key, len(rows))
    caller: list[list[tuple[float, float]]] = [[] for _ in rows]
    init: list[list[tuple[float, float]]] = [[] for _ in rows]
    restore: list[list[tuple[float, float]]] = [[] for _ in rows]
    on_demand: list[list[tuple[float, float]]] = [[] for _ in rows]
    provisioned: list[list[tuple[float, float]]] = [[] for _ in rows]
    for inv in calls:
        row = rows[inv.environment_key or f"call {inv.request_id or inv.item_id}"]
        if inv.started_at is not None and inv.ended_at is not None:
            caller[row].append((inv.started_at - origin, inv.ended_at - inv.started_at))
        if inv.handler_start is not None and inv.handler_end is not None:
            body = (inv.handler_start, inv.handler_end)
        else:
            interval = inv.busy_interval
            assert interval is not None
            body = interval
        if inv.cold:
            waited = restore if inv.restore_duration_ms is not None else init
            if inv.init_start is not None and inv.init_end is not None:
                waited[row].append((inv.init_start - origin, inv.init_end - inv.init_start))
            elif inv.init_duration_ms is not None:
                seconds = inv.init_duration_ms / 1000.0
                waited[row].append((body[0] - seconds - origin, seconds))
        target = provisioned if inv.served_by_pc else on_demand
        target[row].append((body[0] - origin, body[1] - body[0]))

    count = len(rows)
    height = min(3.0 + 0.085 * count, 16.0)
    figure, axes = plt.subplots(figsize=(11, height), dpi=DPI)
    for row in range(count):
        if caller[row]:
            axes.broken_barh(caller[row], (row - 0.45, 0.9), facecolors=CALLER_COLOR, linewidth=0)
        for bars, color in ((init, INIT_COLOR), (restore, RESTORE_COLOR)):
            if bars[row]:
                axes.broken_barh(bars[row], (row - 0.32, 0.64), facecolors=color, linewidth=0)
        if on_demand[row]:
            axes.broken_barh(
                on_demand[row], (row - 0.32, 0.64), facecolors=ON_DEMAND_COLOR, linewidth=0
            )
        if provisioned[row]:
            axes.broken_barh(provisioned[row], (row - 0.32, 0.64), facecolors=PC_COLOR, linewidth=0)
    axes.set_ylim(count - 0.5, -0.5)
    if count <= MAX_LABELLED_ROWS:
        axes.set_yticks(range(count), [f"env {i + 1}" for i in range(count)], fontsize=7)
    else:
        step = max(1, count // 20)
        axes.set_yticks(
            range(0, count, step), [f"env {i + 1}" for i in range(0, count, step)], fontsize=7
        )
    axes.set_xlim(0, x_max if x_max is not None else _run_length(calls, origin) * 1.02)
    axes.set_xlabel("seconds since the run's first call started")
    axes.set_ylabel("environments" if count < 12 else "execution environments (one row each)")
    summary = next((r for r in analysis.runs if r.name == run), None)
    headline = f"{run}: {len(calls)} calls on {count} environments"
    if summary is not None:
        headline += f", {summary.cold_starts} cold starts"
        if summary.provisioned_concurrency:
            headline += f", {summary.served_by_pc} served by provisioned concurrency"
    axes.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    axes.set_axisbelow(True)
    present = [
        (caller, CALLER_COLOR, "caller waiting (Step Functions task)"),
        (init, INIT_COLOR, "Initialization the caller waited for (cold start)"),
        (restore, RESTORE_COLOR, "SnapStart restore the caller waited for (cold start)"),
        (on_demand, ON_DEMAND_COLOR, "Invocation, on-demand environment"),
        (provisioned, PC_COLOR, "Invocation, provisioned environment"),
    ]
    legend = [Patch(facecolor=color, label=label) for bars, color, label in present if any(bars)]
    # title and legend above the plot (the plot area itself is full of bars), in a fixed
    # number of inches whatever the figure's height
    figure.suptitle(headline, fontsize=11, x=0.01, y=1 - 0.06 / height, ha="left", va="top")
    figure.legend(
        handles=legend,
        loc="upper left",
        bbox_to_anchor=(0.01, 1 - 0.32 / height),
        ncol=len(legend),
        fontsize=8,
        frameon=False,
        handlelength=1.2,
    )
    figure.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.62 / height))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def _latency(inv: Invocation) -> float | None:
    caller = inv.caller_latency_s
    return caller if caller is not None else inv.handler_latency_s


def latency_chart(analysis: Analysis, path: Path) -> Path | None:
    """Histograms of call latency, cold (orange) vs warm (blue), one panel per run."""
    runs = [r for r in analysis.runs if r.invocations]
    panels = []
    for run in runs:
        calls = analysis.run_invocations(run.name)
        cold = [v for v in (_latency(i) for i in calls if i.cold) if v is not None]
        warm = [v for v in (_latency(i) for i in calls if i.cold is False) if v is not None]
        uses_caller = any(i.caller_latency_s is not None for i in calls)
        panels.append((run, cold, warm, uses_caller))
    values = [v for _, cold, warm, _ in panels for v in cold + warm]
    if not values:
        return None
    top = max(values) * 1.08 or 1.0
    bins = [top * i / 48 for i in range(49)]
    figure, axes_list = plt.subplots(
        1, len(panels), figsize=(5.2 * len(panels) + 0.6, 3.6), dpi=DPI, sharex=True, squeeze=False
    )
    for axes, (run, cold, warm, uses_caller) in zip(axes_list[0], panels, strict=True):
        if warm:
            axes.hist(warm, bins=bins, color=ON_DEMAND_COLOR, label=f"warm ({len(warm)})")
        if cold:
            axes.hist(cold, bins=bins, color=INIT_COLOR, label=f"cold ({len(cold)})")
        for data, color, name in ((warm, ON_DEMAND_COLOR, "warm"), (cold, INIT_COLOR, "cold")):
            if data:
                median = sorted(data)[len(data) // 2]
                axes.axvline(median, color=color, linestyle="--", linewidth=1)
                # the cold median sits at the right end of the axis: label it on its left
                left = name == "cold"
                axes.annotate(
                    f"{name} p50 {median:.2f} s",
                    xy=(median, 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(-4 if left else 4, -14),
                    textcoords="offset points",
                    ha="right" if left else "left",
                    fontsize=8,
                    color=color,
                )
        axes.set_title(
            f"{run.name}\n{run.cold_starts} cold of {run.invocations} calls", fontsize=10
        )
        axes.set_xlabel("latency the caller saw (s)" if uses_caller else "handler duration (s)")
        axes.set_ylabel("calls")
        axes.set_xlim(0, top)
        axes.legend(fontsize=8, loc="center", frameon=False)
        axes.grid(axis="y", color="#e6e6e6", linewidth=0.6)
        axes.set_axisbelow(True)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def write_charts(analysis: Analysis, out_dir: Path) -> list[Path]:
    """All charts into ``out_dir``: ``latency.png`` and ``timeline-<run>.png`` per run.

    The timelines share one time axis so runs compare at a glance.
    """
    written: list[Path] = []
    latency = latency_chart(analysis, out_dir / "latency.png")
    if latency is not None:
        written.append(latency)
    lengths = []
    for run in analysis.runs:
        calls = [inv for inv in analysis.run_invocations(run.name) if inv.busy_interval is not None]
        origin = _run_origin(calls)
        if origin is not None:
            lengths.append(_run_length(calls, origin))
    x_max = max(lengths) * 1.02 if lengths else None
    for run in analysis.runs:
        chart = timeline_chart(
            analysis, run.name, out_dir / f"timeline-{_slug(run.name)}.png", x_max=x_max
        )
        if chart is not None:
            written.append(chart)
    return written
