"""A run replayed in the simulator: the arrivals it was given, the init and duration it measured.

``pclab run --arrivals ...`` hands the state machine items with ``startAfterSeconds``; this
simulates those same arrival times with the handler durations and init durations the run's
report.json measured, at the run's PC level, so spillover and cold starts can be compared call
for call with what the local cloud (or AWS) did: the proof in docs/plan.md, used by
tests/cloud/test_arrivals_e2e.py and bench/bench_arrivals.py. Pure: reads the report file,
imports the planner's own modules and Lambda's rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pclab.lambda_model.concurrency import FunctionLimits
from pclab.plan import inputs, options
from pclab.plan.arrivals import Arrivals, Distribution
from pclab.plan.results import SimResult
from pclab.plan.simulate import Setup, Workload, run_option


def replay(
    report: Path,
    offsets: Sequence[float],
    provisioned_concurrency: int,
    *,
    run: str | None = None,
    reserved: int | None = None,
    seed: int = 0,
) -> SimResult:
    """Simulate calls arriving ``offsets`` seconds after t = 0 on a function with this PC.

    Durations and inits are resampled from ``report`` (every run's handler durations, and the
    init durations of its cold calls; no cold call measured: an init of 0). ``run`` only checks
    that the report holds that run.
    """
    measured = inputs.read_report(report, run)
    times = np.sort(np.asarray(offsets, dtype=np.float64))
    span = float(times[-1]) + 1.0 if times.shape[0] else 1.0
    workload = Workload(
        arrivals=Arrivals(times, span, 0.0, {"kind": "replay", "file": str(report)}),
        durations=measured.durations,
        inits=measured.inits or Distribution.fixed(0.0),
        seed=seed,
    )
    setup = Setup(limits=FunctionLimits(reserved=reserved))
    return run_option(options.fixed(provisioned_concurrency), setup, workload)
