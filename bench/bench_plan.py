"""Benchmark: ``pclab plan`` over one day at 100 calls/s (8.64 million calls) x 5 options
(goal: 30 s or less on a 2-core machine).

Times what ``pclab plan --no-charts`` does: generate the Poisson arrivals, simulate the five
options (one process per CPU), price them, recommend, write plan.json. The page and charts are
timed separately (not in the goal). Prints wall time, CPU time (this process and its workers),
the ratio to the goal and the load average: on a busy 2-core machine wall time also measures the
neighbours. ``--hours H`` runs a shorter day; ``--profile`` runs one option under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pclab.lambda_model.concurrency import FunctionLimits
from pclab.plan import arrivals, options
from pclab.plan.arrivals import Distribution
from pclab.plan.output import write_plan
from pclab.plan.planner import run_plan
from pclab.plan.recommend import Goal
from pclab.plan.simulate import Setup, Workload, run_option

GOAL_SECONDS = 30.0
RATE = 100.0


def _cpu() -> float:
    """CPU seconds of this process and of its finished workers."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--profile", action="store_true", help="cProfile one option (PC 0)")
    args = parser.parse_args()
    limits = FunctionLimits()
    setup = Setup(limits=limits, memory_mb=1024)
    compared = [
        options.fixed(0),
        options.fixed(10),
        options.fixed(15),
        options.scheduled("08:00-20:00=15,else=8"),
        options.target_tracking("0.7:5-50", limits),
    ]
    began, cpu_began = time.perf_counter(), _cpu()
    times = arrivals.poisson(RATE, args.hours * 3600.0, np.random.default_rng([0, 1]))
    workload = Workload(times, Distribution.fixed(0.1), Distribution.fixed(0.5), seed=0)
    generated = time.perf_counter()
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(run_option, compared[0], setup, workload)
        pstats.Stats(profile).sort_stats("tottime").print_stats(10)
        return 0
    plan = run_plan(workload, setup, compared, Goal(target_p99_s=0.2))
    with tempfile.TemporaryDirectory() as tmp:
        written = time.perf_counter()
        write_plan(plan, Path(tmp), charts=False)
        done = time.perf_counter()
        total, cpu = done - began, _cpu() - cpu_began
        print(f"{len(times):,} calls ({args.hours:g} h at {RATE:g}/s) x {len(compared)} options")
        print(f"  {'arrivals':<28} {generated - began:6.2f} s")
        print(f"  {'simulate (parallel)':<28} {plan.seconds:6.2f} s")
        print(f"  {'price, recommend, plan.json':<28} {done - written:6.2f} s")
        for result, cost in zip(plan.results, plan.costs, strict=True):
            print(
                f"    {result.name:<28} cold {result.cold_starts:>7,}  spill "
                f"{result.spillover:>9,}  p99 {result.latency.p99 or 0:.3f} s  "
                f"${cost.per_day:,.2f}/day"
            )
        goal = GOAL_SECONDS * args.hours / 24.0
        verdict = "OK" if total <= goal else "MISSED"
        print(
            f"plan: {total:.2f} s wall, {cpu:.2f} s CPU ({os.cpu_count()} cores); "
            f"{total / goal:.2f} x the goal of {goal:.1f} s: {verdict}"
        )
        print(f"  load average while measuring: {os.getloadavg()[0]:.2f}")
        print(f"  {plan.recommendation.reason}")
        began = time.perf_counter()
        write_plan(plan, Path(tmp), charts=True)
        print(
            f"separately (not in the goal): plan.html + charts {time.perf_counter() - began:.2f} s"
        )
    return 0 if total <= goal else 1


if __name__ == "__main__":
    sys.exit(main())
