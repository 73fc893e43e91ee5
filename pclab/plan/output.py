"""A plan as plan.json (schema ``pclab.plan/1``, docs/plan.md), a terminal table, and the page.

The table's rows (:func:`rows`) feed both the terminal and plan.html, so they never disagree.
plan.json holds every number shown plus each option's series over time, for other tools.
Imports the planner and rich only; matplotlib only in :mod:`pclab.plan.page`, loaded when charts
are asked for (it takes most of a second to import).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from pclab.lambda_model import prices
from pclab.plan.cost import OptionCost
from pclab.plan.planner import Plan
from pclab.plan.results import SimResult

SCHEMA = "pclab.plan/1"
PLAN_FILES = ("plan.json", "plan.html", "frontier.png", "concurrency.png")


def _level(result: SimResult, cost: OptionCost) -> dict[str, Any]:
    return {
        "name": result.name,
        "kind": result.kind,
        "provisioned_concurrency": result.units,
        "policy": result.policy,
        "pc_units": {
            "min": result.pc_min,
            "mean": result.pc_mean,
            "max": result.pc_max,
            "changes": result.pc_changes,
        },
        "calls": result.calls,
        "served_by_pc": result.served_by_pc,
        "served_on_demand": result.served_on_demand,
        "spillover": result.spillover,
        "cold_starts": result.cold_starts,
        "cold_share": result.cold_share,
        "throttles": result.throttles,
        "throttled_calls": result.throttled_calls,
        "retries": result.retries,
        "latency_s": {**result.latency.as_dict(), "cold_p50": result.latency_cold_p50},
        "cost_usd": cost.as_dict(),
        "concurrency": {
            "peak_pc_busy": result.peak_pc_busy,
            "peak_on_demand_busy": result.peak_on_demand_busy,
            "mean": result.mean_concurrency,
        },
        "series": result.series,
    }


def plan_dict(plan: Plan, *, generated_at: datetime | None = None) -> dict[str, Any]:
    """The plan as JSON-ready data (schema ``pclab.plan/1``)."""
    when = generated_at or datetime.now(UTC)
    workload, setup = plan.workload, plan.setup
    arrivals = workload.arrivals
    return {
        "schema": SCHEMA,
        "generated_at": when.isoformat(timespec="seconds"),
        "inputs": {
            "arrivals": {
                **arrivals.source,
                "calls": len(arrivals),
                "span_s": arrivals.span_s,
                "mean_rate_per_s": arrivals.mean_rate,
                "clock_start_s": arrivals.clock_start_s,
            },
            "duration": workload.durations.describe(),
            "init": workload.inits.describe(),
            "memory_mb": setup.memory_mb,
            "reserved_concurrency": setup.limits.reserved,
            "account_limit": setup.limits.account_limit,
            "idle_minutes": setup.idle_s / 60.0,
            "allocation_minutes": setup.allocation_delay_s / 60.0,
            "retries": setup.retries,
            "seed": workload.seed,
            "offered_concurrency": plan.offered,
            "prices_usd": {
                "per_request": prices.PRICE_PER_REQUEST,
                "on_demand_gb_second": prices.PRICE_ON_DEMAND_GB_SECOND,
                "pc_gb_second": prices.PRICE_PC_GB_SECOND,
                "pc_duration_gb_second": prices.PRICE_PC_DURATION_GB_SECOND,
                "region": prices.REGION,
                "architecture": prices.ARCHITECTURE,
            },
        },
        "levels": [_level(r, c) for r, c in zip(plan.results, plan.costs, strict=True)],
        "recommendation": plan.recommendation.as_dict(),
        "notes": list(plan.notes),
        "simulation_seconds": plan.seconds,
    }


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _dollars(value: float) -> str:
    return f"${value:,.4f}" if 0 < value < 0.01 else f"${value:,.2f}"


def _units(result: SimResult) -> str:
    if result.pc_min == result.pc_max:
        return str(result.pc_min)
    return f"{result.pc_min}-{result.pc_max} (~{result.pc_mean:.0f})"


HEADERS = (
    "option",
    "PC",
    "by PC",
    "spillover",
    "cold",
    "throttled",
    "p50/p99/max s",
    "$/day",
    "PC $/day",
)


def rows(plan: Plan) -> list[list[str]]:
    """One row per option, cells as in HEADERS."""
    table = []
    for result, cost in zip(plan.results, plan.costs, strict=True):
        latency = result.latency
        chosen = result.name == plan.recommendation.option
        table.append(
            [
                ("★ " if chosen else "") + result.name,
                _units(result),
                f"{result.served_by_pc:,} ({result.served_by_pc / max(result.calls, 1):.0%})",
                f"{result.spillover:,}",
                f"{result.cold_starts:,} ({result.cold_share:.1%})",
                f"{result.throttled_calls:,}"
                + (f" ({result.throttles:,} tries)" if result.retries else ""),
                "/".join(_seconds(v) for v in (latency.p50, latency.p99, latency.max)),
                _dollars(cost.per_day),
                _dollars(cost.allocation * cost.per_day / cost.total if cost.total else 0.0),
            ]
        )
    return table


def headline(plan: Plan) -> str:
    arrivals = plan.workload.arrivals
    return (
        f"{len(arrivals):,} calls over {arrivals.span_s / 3600:.2f} h "
        f"({arrivals.mean_rate:.2f}/s), duration mean {plan.workload.durations.mean:.3f} s, "
        f"init mean {plan.workload.inits.mean:.3f} s; offered concurrency mean "
        f"{plan.offered['mean']:.1f}, p99 {plan.offered['p99']}, peak {plan.offered['peak']}"
    )


def render_table(plan: Plan, console: Console) -> None:
    table = Table(
        title="Provisioned concurrency plan",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    for header in HEADERS:  # a narrow terminal folds cells, never cuts them
        table.add_column(header, overflow="fold")
    for row in rows(plan):
        table.add_row(*row)
    console.print(headline(plan), highlight=False)
    console.print(table)
    console.print(f"[bold]{plan.recommendation.reason}[/bold]", highlight=False)
    for note in plan.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    console.print(f"simulated in {plan.seconds:.1f} s", highlight=False)


@dataclass(frozen=True)
class PlanFiles:
    json: Path
    html: Path | None = None
    charts: tuple[Path, ...] = ()


def write_plan(plan: Plan, out_dir: Path, *, charts: bool = True) -> PlanFiles:
    """plan.json always; with ``charts`` the PNGs and plan.html (matplotlib imported lazily).
    Our own files from an earlier plan in ``out_dir`` are removed first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in PLAN_FILES:
        (out_dir / name).unlink(missing_ok=True)
    path = out_dir / "plan.json"
    text = json.dumps(plan_dict(plan), separators=(",", ":"), allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    if not charts:
        return PlanFiles(json=path)
    from pclab.plan.page import write_page

    html, pngs = write_page(plan, out_dir)
    return PlanFiles(json=path, html=html, charts=tuple(pngs))
