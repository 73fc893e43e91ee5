"""A run replayed in the simulator: the arrivals it was given, the init and duration it measured.

``pclab run --arrivals ...`` hands the state machine items with ``startAfterSeconds``; this
simulates those same arrival times with the handler durations and init durations the run's
report.json measured, at the run's PC level, so spillover and cold starts can be compared call
for call with what the local cloud (or AWS) did: the proof in docs/plan.md, used by
tests/cloud/test_arrivals_e2e.py and bench/bench_arrivals.py. Pure: reads the report file,
imports the planner's own modules and Lambda's rules.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from pclab.lambda_model.concurrency import FunctionLimits
from pclab.plan import inputs, options
from pclab.plan.arrivals import Arrivals, Distribution, PlanInputError
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

    Durations and inits are resampled from ``report``: the handler durations and the init
    durations of cold calls of ``run`` (None: of every run); no cold call measured: an init of 0.
    """
    measured = inputs.read_report(report, run, own_only=run is not None)
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


# report.json's run counts -> the simulator's (plan.json's level) names
COUNTS = {
    "invocations": "calls",
    "served_by_pc": "served_by_pc",
    "spillover": "spillover",
    "cold_starts": "cold_starts",
}


def compare(run: dict[str, Any], simulated: SimResult) -> dict[str, tuple[int, int]]:
    """plan.json's count names -> (measured in report.json's ``run``, simulated)."""
    return {
        ours: (int(run[theirs]), int(getattr(simulated, ours))) for theirs, ours in COUNTS.items()
    }


@dataclass(frozen=True)
class RunArrivals:
    """What one execution was given: its arrivals' time zero and each item's
    ``startAfterSeconds``."""

    # epoch seconds: the stamped items' ``startAt`` minus their offset (pclab run stamps each
    # execution when it starts it), else DescribeExecution's startDate (an input without stamps)
    zero: float
    offsets: dict[str, int]  # item id (as report.json writes it) -> seconds

    def lateness(self, calls: Sequence[dict[str, object]]) -> list[float]:
        """Seconds each report.json call started after its offset said (caller view)."""
        late = []
        for call in calls:
            start, item = call.get("started_at"), call.get("item_id")
            if isinstance(start, (int, float)) and str(item) in self.offsets:
                late.append(float(start) - self.zero - self.offsets[str(item)])
        return late


def run_arrivals(out_dir: Path, run: str) -> RunArrivals:
    """Read ``raw/<run>/describe-execution*.json`` that ``pclab run`` saved under ``out_dir``
    (one per execution: a run too long or too large for one has several, sharing one zero)."""
    folder = out_dir / "raw" / run
    paths = sorted(folder.glob("describe-execution*.json")) or [folder / "describe-execution.json"]
    items: list[dict[str, Any]] = []
    starts: list[float] = []
    for path in paths:
        try:
            described = json.loads(path.read_text(encoding="utf-8"))
            items += json.loads(described["input"])["items"]
            starts.append(datetime.fromisoformat(described["startDate"]).timestamp())
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise PlanInputError(
                f"{path}: not a saved DescribeExecution with items ({error})"
            ) from None
    try:
        zeros = [
            datetime.fromisoformat(i["startAt"]).timestamp() - int(i["startAfterSeconds"])
            for i in items
            if "startAt" in i
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise PlanInputError(f"{folder}: an item's startAt is not a time ({error})") from None
    zero = min(zeros) if zeros else min(starts)
    offsets = {str(i["id"]): int(i.get("startAfterSeconds", 0)) for i in items}
    return RunArrivals(zero, offsets)
