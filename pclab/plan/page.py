"""plan.html and its charts (matplotlib, Agg backend), in the report's house style.

- frontier.png: cost per day against p99 latency, one point per option: the cheapest option
  meeting the goal is the lowest-left point under the goal line;
- concurrency.png: one panel per option over time: calls in flight on provisioned environments
  (green) and on on-demand ones (blue, stacked), the READY PC level (dashed) and throttles (red).

The page is self-contained (charts inline as base64 PNG, CSS inline), like report.html, because
it gets mailed and attached where side files go missing. Imports the planner and matplotlib;
not pclab.report (the planner knows only Lambda's rules and the analysis model, DESIGN.md), so
the style is repeated here.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pclab.plan.output import HEADERS, headline, rows
from pclab.plan.planner import Plan

INIT_COLOR = "#e8743b"  # the report's colours: orange = cold/throttle, blue = on-demand,
ON_DEMAND_COLOR = "#2f6db3"  # green = provisioned
PC_COLOR = "#1a9e77"
THROTTLE_COLOR = "#c0392b"
DPI = 110
MAX_POINTS = 1500

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1240px; color: #1d1f23; padding: 0 16px; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d5d8de; padding-bottom: 4px; }
p.lead { color: #50555e; margin-top: 0; }
p.answer { font-size: 1.02rem; font-weight: 600; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #d5d8de; padding: 4px 10px; text-align: left; vertical-align: top; }
thead th { background: #f1f2f4; }
figure { margin: 16px 0 28px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e5e9; }
figcaption { color: #50555e; font-size: 0.85rem; margin-top: 4px; }
"""


def frontier_chart(plan: Plan, path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(8.5, 4.8), dpi=DPI)
    chosen = plan.recommendation.option
    tops = [0.0]
    by_cost = sorted(range(len(plan.results)), key=lambda i: plan.costs[i].per_day)
    rank = {index: position for position, index in enumerate(by_cost)}
    for index, (result, cost) in enumerate(zip(plan.results, plan.costs, strict=True)):
        p99 = result.latency.p99
        if p99 is None:
            continue
        tops.append(p99)
        mine = result.name == chosen
        axes.scatter(
            [cost.per_day],
            [p99],
            s=160 if mine else 40,
            c=PC_COLOR if mine else ON_DEMAND_COLOR,
            marker="*" if mine else "o",
            zorder=3,
        )
        label = result.name
        if result.throttled_calls:
            label += f" ({result.throttled_calls:,} throttled)"
        # options often share a p99: stagger neighbours' labels (by cost) so they stay readable
        axes.annotate(
            label,
            (cost.per_day, p99),
            xytext=(6, (4, 16, 28, -14)[rank[index] % 4]),
            textcoords="offset points",
            fontsize=8,
        )
    target = plan.recommendation.goal.target_p99_s
    if target is not None:
        axes.axhline(target, color=INIT_COLOR, linestyle="--", linewidth=1)
        axes.annotate(
            f"target p99 {target:g} s",
            xy=(0.01, target),
            xycoords=("axes fraction", "data"),
            xytext=(0, 4),
            textcoords="offset points",
            fontsize=8,
            color=INIT_COLOR,
        )
    axes.set_xlabel("cost per day (US$, us-east-1 list prices)")
    axes.set_ylabel("p99 latency (s): init waited + duration")
    axes.set_title("Cost against p99 latency, one point per option", fontsize=11)
    axes.grid(color="#e6e6e6", linewidth=0.6)
    axes.set_axisbelow(True)
    top = max([*tops, target or 0.0])
    axes.set_ylim(0, top * 1.2 if top > 0 else 1.0)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _downsample(values: list[int], factor: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    array = np.asarray(values, dtype=float)
    if factor <= 1:
        return array
    usable = array[: array.shape[0] // factor * factor]
    peaks: np.ndarray[Any, np.dtype[np.float64]] = usable.reshape(-1, factor).max(axis=1)
    return peaks


def concurrency_chart(plan: Plan, path: Path) -> Path:
    count = len(plan.results)
    figure, axes_list = plt.subplots(
        count, 1, figsize=(11, 1.9 * count + 0.9), dpi=DPI, sharex=True, squeeze=False
    )
    hours = plan.workload.arrivals.span_s > 3 * 3600
    for axes, result in zip(axes_list[:, 0], plan.results, strict=True):
        series = result.series
        factor = max(1, -(-len(series["pc_ready"]) // MAX_POINTS))
        step = series["step_s"] * factor
        pc_busy = _downsample(series["pc_busy"], factor)
        on_demand = _downsample(series["on_demand_busy"], factor)
        ready = _downsample(series["pc_ready"], factor)
        throttles = _downsample(series["throttles"], factor)
        x = np.arange(pc_busy.shape[0]) * step / (3600.0 if hours else 1.0)
        axes.fill_between(x, 0, pc_busy, step="post", color=PC_COLOR, alpha=0.85, linewidth=0)
        axes.fill_between(
            x,
            pc_busy,
            pc_busy + on_demand,
            step="post",
            color=ON_DEMAND_COLOR,
            alpha=0.85,
            linewidth=0,
        )
        axes.step(x, ready, where="post", color="#1d1f23", linestyle="--", linewidth=1)
        if throttles.any():
            axes.bar(
                x,
                np.where(throttles > 0, (pc_busy + on_demand).max() * 0.08, 0),
                width=step / (3600.0 if hours else 1.0),
                color=THROTTLE_COLOR,
                align="edge",
            )
        axes.set_title(
            f"{result.name}: {result.cold_starts:,} cold, {result.spillover:,} spillover, "
            f"{result.throttled_calls:,} throttled",
            fontsize=9,
            loc="left",
        )
        axes.set_ylabel("in flight", fontsize=8)
        axes.grid(axis="y", color="#e6e6e6", linewidth=0.6)
        axes.set_axisbelow(True)
    axes_list[-1, 0].set_xlabel("hours since the start" if hours else "seconds since the start")
    figure.legend(
        handles=[
            Patch(color=PC_COLOR, label="on provisioned environments"),
            Patch(color=ON_DEMAND_COLOR, label="on on-demand environments"),
            Line2D([], [], color="#1d1f23", linestyle="--", label="PC READY"),
            Patch(color=THROTTLE_COLOR, label="throttles in that step"),
        ],
        loc="upper left",
        ncol=4,
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.01, 1.0),
    )
    figure.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.35 / (1.9 * count + 0.9)))
    figure.savefig(path)
    plt.close(figure)
    return path


def _image(path: Path, alt: str, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def write_page(plan: Plan, out_dir: Path) -> tuple[Path, list[Path]]:
    frontier = frontier_chart(plan, out_dir / "frontier.png")
    concurrency = concurrency_chart(plan, out_dir / "concurrency.png")
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>pclab plan: how much provisioned concurrency</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>How much provisioned concurrency, and when</h1>",
        f'<p class="lead">{esc(headline(plan))}. Prices: us-east-1, x86 (rates in plan.json).</p>',
        f'<p class="answer">{esc(plan.recommendation.reason)}</p>',
        "<h2>Options</h2><table><thead><tr>",
        *(f"<th>{esc(h.strip())}</th>" for h in HEADERS),
        "</tr></thead><tbody>",
    ]
    for row in rows(plan):
        parts.append("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>")
    parts.append("</tbody></table>")
    parts.append("<h2>Charts</h2>")
    parts.append(
        _image(
            frontier,
            "Cost against p99",
            "Each option's cost per day against its p99 "
            "latency; the star is the recommendation, the dashed line the p99 goal.",
        )
    )
    parts.append(
        _image(
            concurrency,
            "Concurrency over time",
            "Calls in flight per option over "
            "time (the peak of each step): green on provisioned environments, blue on "
            "on-demand ones, dashed the PC READY, red steps with throttles.",
        )
    )
    if plan.notes:
        parts.append("<h2>Notes</h2><ul>")
        parts.extend(f"<li>{esc(note)}</li>" for note in plan.notes)
        parts.append("</ul>")
    parts.append("</body></html>")
    path = out_dir / "plan.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path, [frontier, concurrency]
