"""report.json: the analysis as a documented, versioned JSON document (see docs/report-json.md).

WHY a schema version: other tools (dashboards, CI checks such as "no cold start on the PC alias")
read this file; ``schema`` changes only when a field changes meaning or disappears.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pclab.analysis import cost as prices
from pclab.analysis.model import Analysis, Invocation, LatencyStats, MetricsView, RunSummary
from pclab.analysis.perf import without_gc

SCHEMA = "pclab.report/1"

_INVOCATION_FIELDS = tuple(f.name for f in fields(Invocation) if f.name != "sources")


def _latency(stats: LatencyStats) -> dict[str, Any]:
    return {
        "count": stats.count,
        "p50": stats.p50,
        "p90": stats.p90,
        "p99": stats.p99,
        "max": stats.max,
        "mean": stats.mean,
    }


def _metrics(view: MetricsView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {
        "provided": view.provided,
        "invocations": view.invocations,
        "throttles": view.throttles,
        "spillover": view.spillover,
        "served_by_pc": view.served_by_pc,
        "peak_concurrent_executions": view.peak_concurrent_executions,
        "note": view.note,
        "origin": view.origin,
    }


def _run(summary: RunSummary, analysis: Analysis) -> dict[str, Any]:
    cost = summary.cost
    return {
        "name": summary.name,
        "function_name": summary.function_name,
        "qualifier": summary.qualifier,
        "memory_mb": summary.memory_mb,
        "provisioned_concurrency": summary.provisioned_concurrency,
        "invocations": summary.invocations,
        "cold_starts": summary.cold_starts,
        "cold_unknown": summary.cold_unknown,
        "served_by_pc": summary.served_by_pc,
        "spillover": summary.spillover,
        "throttles": summary.throttles,
        "retries": summary.retries,
        "errors": summary.errors,
        "environments": summary.environments,
        "latency_s": {
            "caller": _latency(summary.latency_caller),
            "caller_cold": _latency(summary.latency_caller_cold),
            "caller_warm": _latency(summary.latency_caller_warm),
            "handler": _latency(summary.latency_handler),
            "init": _latency(summary.init_duration),
            "restore": _latency(summary.restore_duration),
            "overhead": _latency(summary.overhead),
        },
        "concurrency": {"peak": summary.peak_concurrency, "asked": summary.asked_concurrency},
        "makespan_s": summary.makespan_s,
        "cost_usd": {
            "requests": cost.requests_usd,
            "on_demand_duration": cost.on_demand_usd,
            "pc_served_duration": cost.pc_served_usd,
            "pc_allocation": cost.pc_allocation_usd,
            "snapstart_cache": cost.snapstart_cache_usd,
            "snapstart_restore": cost.snapstart_restore_usd,
            "total": cost.total_usd,
            "pc_hourly": cost.pc_hourly_usd,
        },
        "billed": {
            "on_demand_gb_seconds": cost.on_demand_gb_seconds,
            "pc_served_gb_seconds": cost.pc_served_gb_seconds,
            "pc_enabled_seconds": cost.pc_enabled_seconds,
            "snapstart_restores": cost.snapstart_restores,
            "estimated": cost.billed_estimated,
        },
        "coverage": [
            {
                "source": str(c.source),
                "provided": c.provided,
                "seen": c.seen,
                "total": c.total,
                "note": c.note,
            }
            for c in analysis.coverage.get(summary.name, ())
        ],
        "metrics": _metrics(analysis.metrics.get(summary.name)),
        "notes": list(summary.notes),
    }


def _invocation(inv: Invocation) -> dict[str, Any]:
    record: dict[str, Any] = {"run": inv.run_key}
    record.update({name: getattr(inv, name) for name in _INVOCATION_FIELDS})
    record["caller_latency_s"] = inv.caller_latency_s
    record["handler_latency_s"] = inv.handler_latency_s
    record["overhead_s"] = inv.overhead_s
    record["restore_duration_ms"] = inv.restore_duration_ms
    record["sources"] = sorted(str(s) for s in inv.sources)
    return record


def report_dict(analysis: Analysis, *, generated_at: datetime | None = None) -> dict[str, Any]:
    """The report as plain JSON-ready data (schema ``pclab.report/1``)."""
    when = generated_at or datetime.now(UTC)
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "generated_at": when.isoformat(timespec="seconds"),
        "prices_usd": {
            "per_request": prices.PRICE_PER_REQUEST,
            "on_demand_gb_second": prices.PRICE_ON_DEMAND_GB_SECOND,
            "pc_gb_second": prices.PRICE_PC_GB_SECOND,
            "pc_duration_gb_second": prices.PRICE_PC_DURATION_GB_SECOND,
            "pc_minimum_seconds": prices.PC_MINIMUM_SECONDS,
            "snapstart_cache_gb_second": prices.PRICE_SNAPSTART_CACHE_GB_SECOND,
            "snapstart_restore_gb": prices.PRICE_SNAPSTART_RESTORE_GB,
            "snapstart_cache_minimum_seconds": prices.SNAPSTART_CACHE_MINIMUM_SECONDS,
            "region": "us-east-1",
            "architecture": "x86_64",
        },
        "runs": [_run(summary, analysis) for summary in analysis.runs],
        "disagreements": [
            {
                "run": d.run,
                "request_id": d.request_id,
                "item_id": d.item_id,
                "topic": d.topic,
                "message": d.message,
            }
            for d in analysis.disagreements
        ],
        "notes": list(analysis.notes),
        "invocations": [_invocation(inv) for inv in analysis.invocations],
    }
    if analysis.incomplete is not None:
        # only when the run did not end: a complete report keeps its shape (readers test
        # `"incomplete" in report`)
        document["incomplete"] = {
            "reason": analysis.incomplete.reason,
            "executions": list(analysis.incomplete.executions),
            "sources": list(analysis.incomplete.sources),
        }
    return document


@without_gc
def write_json_report(analysis: Analysis, path: Path) -> Path:
    """Write report.json (compact: it holds one record per call)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # dumps then one write: json.dump to a file object is several times slower
    text = json.dumps(report_dict(analysis), separators=(",", ":"), allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path
