"""``pclab plan``: parse the options, build the workload and options, run the plan, write it.

``add_parser(subparsers)`` registers the command (pclab/cli.py calls it); ``run(args)`` returns
the exit status: 0, or 1 with one line ``pclab: error: ...`` naming the problem and the fix.
Heavy imports (numpy, matplotlib) happen inside ``run`` so ``pclab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pclab.plan.arrivals import Arrivals, Distribution, Spread
    from pclab.plan.options import Option
    from pclab.plan.simulate import Setup, Workload

DEFAULT_RATE = 10.0
DEFAULT_SECONDS = 3600.0
DEFAULT_DURATION_MS = 3000.0  # the sample's FunctionDurationSeconds
DEFAULT_INIT_MS = 5000.0  # the sample's ColdStartDelaySeconds


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = subparsers.add_parser(
        "plan",
        help="what-if planner: how much provisioned concurrency, when, at what cost",
        description="Simulate Lambda's concurrency model for your traffic under several PC "
        "options and compare cold starts, latency and cost. Writes plan.json, plan.html and "
        "charts. See docs/plan.md.",
    )
    load = plan.add_argument_group("traffic")
    load.add_argument(
        "--arrivals",
        choices=("poisson", "uniform", "ramp", "file"),
        help="how calls arrive: poisson (default), uniform (evenly spaced), ramp (0 to --rate "
        "over the span), file (--arrivals-file); with a file, poisson/uniform say how each "
        "period's calls spread within it",
    )
    load.add_argument("--rate", type=float, help=f"calls per second (default {DEFAULT_RATE:g})")
    span = load.add_mutually_exclusive_group()
    span.add_argument("--seconds", type=float, help="simulated span (default 3600)")
    span.add_argument("--hours", type=float, help="simulated span in hours")
    load.add_argument(
        "--arrivals-file",
        type=Path,
        metavar="FILE",
        help="a CSV of second,calls rows, or `aws cloudwatch get-metric-data` JSON of Invocations",
    )
    load.add_argument(
        "--from-report",
        type=Path,
        metavar="REPORT_JSON",
        help="a pclab report.json: its measured durations and inits, and (unless --arrivals or "
        "--rate is given) its calls' start times",
    )
    load.add_argument(
        "--report-run", metavar="NAME", help="which run of the report (default: most calls)"
    )
    function = plan.add_argument_group("function")
    function.add_argument(
        "--duration-ms", type=float, help="handler duration (default 3000, or measured)"
    )
    function.add_argument(
        "--init-ms", type=float, help="on-demand init (default 5000, or measured)"
    )
    function.add_argument(
        "--memory", type=int, default=128, metavar="MB", help="memory size (cost only; default 128)"
    )
    function.add_argument("--reserved", type=int, help="reserved concurrency (default none)")
    function.add_argument(
        "--account-limit", type=int, default=1000, help="account concurrency (default 1000)"
    )
    function.add_argument(
        "--idle-minutes",
        type=float,
        default=10.0,
        help="idle environment expiry (default 10: measured, not documented)",
    )
    function.add_argument(
        "--allocation-minutes",
        type=float,
        default=2.0,
        help="time for raised PC to become READY (default 2)",
    )
    function.add_argument(
        "--retries",
        type=int,
        default=0,
        help="retries of a throttled call, Step Functions style (default 0)",
    )
    options = plan.add_argument_group("options to compare (default: PC 0 and levels from the load)")
    options.add_argument(
        "--pc", type=int, nargs="+", default=[], metavar="N", help="fixed PC levels"
    )
    options.add_argument(
        "--schedule",
        action="append",
        default=[],
        metavar="SPEC",
        help='scheduled PC by UTC time, e.g. "08:00-20:00=50,else=5"; repeatable',
    )
    options.add_argument(
        "--target-utilization",
        action="append",
        default=[],
        metavar="T[:MIN-MAX]",
        help="target tracking on ProvisionedConcurrencyUtilization, e.g. 0.7 or 0.7:5-200; "
        "repeatable",
    )
    goal = plan.add_argument_group("goal and output")
    goal.add_argument(
        "--target-p99",
        type=float,
        metavar="SECONDS",
        help="recommend the cheapest option with this p99",
    )
    goal.add_argument(
        "--max-cold-share",
        type=float,
        metavar="FRACTION",
        help="recommend the cheapest option with at most this share of cold calls",
    )
    goal.add_argument(
        "--seed", type=int, default=0, help="random seed (default 0): the same seed, the same plan"
    )
    goal.add_argument("--workers", type=int, help="processes (default: one per CPU)")
    goal.add_argument(
        "--out", type=Path, default=Path("pclab-plan"), help="folder (default pclab-plan)"
    )
    goal.add_argument("--no-charts", action="store_true", help="plan.json and the table only")
    plan.set_defaults(handler=run)


class _Bad(Exception):
    """One line for the user."""


def _positive(value: float | None, flag: str, *, zero: bool = False) -> None:
    if value is None:
        return
    ok = math.isfinite(value) and (value >= 0 if zero else value > 0)
    if not ok:
        raise _Bad(f"{flag} {value:g}: use a number {'of 0 or more' if zero else 'above 0'}")


def _check(args: argparse.Namespace) -> None:
    for flag in ("rate", "seconds", "hours", "duration_ms", "idle_minutes", "target_p99"):
        _positive(getattr(args, flag), "--" + flag.replace("_", "-"))
    for flag in ("init_ms", "allocation_minutes"):
        _positive(getattr(args, flag), "--" + flag.replace("_", "-"), zero=True)
    if not 128 <= args.memory <= 10240:
        raise _Bad(f"--memory {args.memory}: Lambda memory is 128 to 10240 MB")
    if args.max_cold_share is not None and not 0.0 <= args.max_cold_share <= 1.0:
        raise _Bad(f"--max-cold-share {args.max_cold_share:g}: give a fraction from 0 to 1")
    if not 0 <= args.retries <= 20:
        raise _Bad(f"--retries {args.retries}: use 0 to 20")
    if args.workers is not None and args.workers < 1:
        raise _Bad(f"--workers {args.workers}: use 1 or more")
    if args.arrivals == "file" and args.arrivals_file is None:
        raise _Bad(
            "--arrivals file needs --arrivals-file FILE (CSV second,calls or CloudWatch JSON)"
        )
    if args.arrivals_file is not None and args.arrivals == "ramp":
        raise _Bad("--arrivals ramp generates calls; with --arrivals-file use poisson or uniform")


def _arrivals(args: argparse.Namespace, report: Any, rng: Any) -> Arrivals:
    from pclab.plan import arrivals, inputs

    if args.arrivals_file is not None:
        spread: Spread = "uniform" if args.arrivals == "uniform" else "poisson"
        return inputs.read_counts(args.arrivals_file).arrivals(spread, rng)
    if report is not None and args.arrivals is None and args.rate is None:
        return report.arrivals  # type: ignore[no-any-return]
    rate = args.rate if args.rate is not None else DEFAULT_RATE
    seconds = args.seconds or (args.hours * 3600.0 if args.hours else DEFAULT_SECONDS)
    return arrivals.generate(args.arrivals or "poisson", rate, seconds, rng)


def _distribution(
    ms: float | None, measured: Distribution | None, default_ms: float
) -> Distribution:
    from pclab.plan.arrivals import Distribution

    if ms is not None:
        return Distribution.fixed(ms / 1000.0)
    return measured if measured is not None else Distribution.fixed(default_ms / 1000.0)


def _build(args: argparse.Namespace) -> tuple[Workload, Setup, list[Option]]:
    import numpy as np

    from pclab.lambda_model.concurrency import ConcurrencyConfigError, FunctionLimits
    from pclab.plan import inputs, options
    from pclab.plan.simulate import Setup, Workload

    _check(args)
    try:
        limits = FunctionLimits(account_limit=args.account_limit, reserved=args.reserved)
    except ConcurrencyConfigError as error:
        raise _Bad(f"--reserved/--account-limit: {error}") from None
    report = inputs.read_report(args.from_report, args.report_run) if args.from_report else None
    if args.seed < 0:
        raise _Bad(f"--seed {args.seed}: use 0 or more")
    rng = np.random.default_rng([args.seed, 1])
    arrivals = _arrivals(args, report, rng)
    if len(arrivals) == 0:
        raise _Bad("no calls to simulate: raise --rate or --seconds, or check the arrivals file")
    workload = Workload(
        arrivals=arrivals,
        durations=_distribution(
            args.duration_ms, report.durations if report else None, DEFAULT_DURATION_MS
        ),
        inits=_distribution(args.init_ms, report.inits if report else None, DEFAULT_INIT_MS),
        seed=args.seed,
    )
    setup = Setup(
        limits=limits,
        memory_mb=args.memory,
        idle_s=args.idle_minutes * 60.0,
        allocation_delay_s=args.allocation_minutes * 60.0,
        retries=args.retries,
    )
    chosen = [options.fixed(units) for units in dict.fromkeys(args.pc)]
    chosen += [options.scheduled(spec) for spec in args.schedule]
    chosen += [options.target_tracking(spec, limits) for spec in args.target_utilization]
    for option in chosen:
        option.check(limits)
    return workload, setup, chosen


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pclab.plan.arrivals import PlanInputError
    from pclab.plan.output import render_table, write_plan
    from pclab.plan.planner import run_plan
    from pclab.plan.recommend import Goal

    try:
        workload, setup, chosen = _build(args)
    except (_Bad, PlanInputError) as error:
        print(f"pclab: error: {error}", file=sys.stderr)
        return 1
    goal = Goal(target_p99_s=args.target_p99, max_cold_share=args.max_cold_share)
    plan = run_plan(workload, setup, chosen, goal, workers=args.workers)
    try:
        written = write_plan(plan, args.out, charts=not args.no_charts)
    except OSError as error:
        print(f"pclab: error: --out {args.out}: cannot write the plan ({error})", file=sys.stderr)
        return 1
    render_table(plan, Console())
    shown = [written.json, *([written.html] if written.html else []), *written.charts]
    print("wrote " + ", ".join(str(path) for path in shown))
    return 0
