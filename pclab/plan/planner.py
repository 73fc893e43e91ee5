"""A plan: every option simulated over the same workload, priced, and the recommendation.

Options run in parallel, one process each (up to the CPU count): the simulation is pure Python
and CPU-bound, so threads would not help. Workers are forked after the workload is built, so the
arrival arrays (69 MB for a day at 100 calls/s) are shared copy-on-write instead of pickled.

Imports the planner's own modules and Lambda's rules; no boto3.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pclab.plan.arrivals import Arrivals, Distribution
from pclab.plan.cost import OptionCost, option_cost
from pclab.plan.options import Option, fixed
from pclab.plan.recommend import Goal, Recommendation, recommend
from pclab.plan.results import SimResult
from pclab.plan.simulate import Setup, Workload, run_option

_SHARED: tuple[Setup, Workload] | None = None  # what forked workers inherit


@dataclass(frozen=True)
class Plan:
    workload: Workload
    setup: Setup
    options: tuple[Option, ...]
    results: tuple[SimResult, ...]
    costs: tuple[OptionCost, ...]
    recommendation: Recommendation
    offered: dict[str, Any]  # offered concurrency (every call warm): mean, p50, p99, peak
    seconds: float  # wall time of the simulation
    notes: tuple[str, ...] = field(default_factory=tuple)


def offered_concurrency(arrivals: Arrivals, durations: Distribution) -> np.ndarray[Any, Any]:
    """Calls in flight at each arrival (itself included) if every call ran warm for the mean
    duration: the load PC would have to carry, from arrivals alone."""
    times = arrivals.times
    ends = times + durations.mean
    # calls j <= i still running at times[i]: those whose end is after times[i]
    finished = np.searchsorted(ends, times, side="right")
    return np.arange(1, times.shape[0] + 1) - finished


def describe_offered(arrivals: Arrivals, durations: Distribution) -> dict[str, Any]:
    if len(arrivals) == 0:
        return {"mean": 0.0, "p50": 0, "p90": 0, "p99": 0, "peak": 0}
    load = offered_concurrency(arrivals, durations)
    return {
        # Little's law: arrival rate x mean duration
        "mean": arrivals.mean_rate * durations.mean,
        "p50": int(np.percentile(load, 50)),
        "p90": int(np.ceil(np.percentile(load, 90))),
        "p99": int(np.ceil(np.percentile(load, 99))),
        "peak": int(load.max()),
    }


def auto_levels(offered: dict[str, Any], most: int) -> list[Option]:
    """Fixed levels worth comparing when the user names none: 0, the mean offered concurrency,
    its p90, p99 and peak (capped at what Lambda allows)."""
    wanted = [0, math.ceil(offered["mean"]), offered["p90"], offered["p99"], offered["peak"]]
    levels = sorted({min(int(v), most) for v in wanted})
    return [fixed(level) for level in levels]


def _run_shared(index_and_option: tuple[int, Option]) -> tuple[int, SimResult]:
    assert _SHARED is not None
    setup, workload = _SHARED
    index, option = index_and_option
    return index, run_option(option, setup, workload)


def simulate_all(
    options: Sequence[Option], setup: Setup, workload: Workload, workers: int | None = None
) -> list[SimResult]:
    """Every option over the same workload, in the options' order."""
    global _SHARED
    count = workers if workers is not None else (os.cpu_count() or 1)
    count = max(1, min(count, len(options)))
    if count == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [run_option(option, setup, workload) for option in options]
    _SHARED = (setup, workload)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
            done = dict(pool.map(_run_shared, enumerate(options)))
    finally:
        _SHARED = None
    return [done[i] for i in range(len(options))]


def run_plan(
    workload: Workload,
    setup: Setup,
    options: Sequence[Option],
    goal: Goal,
    *,
    workers: int | None = None,
) -> Plan:
    """Simulate, price and recommend. With no options, compare :func:`auto_levels`."""
    offered = describe_offered(workload.arrivals, workload.durations)
    notes: list[str] = []
    if not options:
        options = auto_levels(offered, setup.limits.max_provisioned)
        notes.append(
            "No --pc, --schedule or --target-utilization given: comparing PC 0 and the offered "
            "concurrency's mean, p90, p99 and peak."
        )
    if offered["peak"] > setup.limits.cap:
        notes.append(
            f"The offered concurrency peaks at {offered['peak']}, above the cap of "
            f"{setup.limits.cap}: expect throttles whatever the PC."
        )
    started = time.perf_counter()
    results = simulate_all(options, setup, workload, workers)
    seconds = time.perf_counter() - started
    costs = [option_cost(result, setup.memory_mb) for result in results]
    return Plan(
        workload=workload,
        setup=setup,
        options=tuple(options),
        results=tuple(results),
        costs=tuple(costs),
        recommendation=recommend(goal, results, costs),
        offered=offered,
        seconds=seconds,
        notes=tuple(notes),
    )
