"""Arrival-shaped load on the local cloud against the simulator on the same arrivals (issue 15).

Runs `pclab demo --together --arrivals poisson` (default 600 calls over 60 s: 10 a second, seed
0) at a PC level below the offered concurrency so some calls spill over, then replays each run's
own ``startAfterSeconds`` in the simulator (pclab.plan.replay) with the init and handler durations
that run measured ("sim"; "sim@": the same calls at the times the local cloud really started
them). Prints, per run, calls / served_by_pc / spillover / cold starts for each, how late the
calls started against their arrival times (``startAt``, the execution's arrival zero plus the
offset), overall and by 10-second band of offset, and the local cloud's overhead (caller latency
- handler - init waited, report.json ``latency_s.overhead``) p50/p99 next to the burst's
(FACTS.md: 150 at once, LoadMode DISTRIBUTED). The load average is printed before and after:
these numbers are CPU-bound on a shared machine.

Work 1.5 s and init 1 s keep every environment's end half a second away from the whole seconds
calls arrive at (Step Functions' Wait counts whole seconds).

``--unstamped`` runs the items as before issue 15's fix, without ``startAt``: each child then
counts ``startAfterSeconds`` from its own start, and the Map starts its children over seconds
(lateness is then measured from the execution's start).

Usage: .venv/bin/python bench/bench_arrivals.py [--rate 10] [--seconds 60] [--pc 15] [--unstamped]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pclab.plan.replay import RunArrivals, compare, replay, run_arrivals  # noqa: E402

# report.json latency_s.overhead at a burst of 150, init 1 s, work 2 s (FACTS.md)
LABELS = {"BaseConcurrency": "reserved", "ProvisionedConcurrency": "provisioned"}
BURST_OVERHEAD_S = {"provisioned": (0.163, 0.384), "reserved": (0.699, 1.990)}


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def late_by_offset(
    given: RunArrivals, calls: list[dict[str, Any]], band_s: int = 10
) -> dict[str, tuple[float, float]]:
    """'0-9' -> (p50, max) seconds late of the calls whose offset falls in that band."""
    bands: dict[int, list[float]] = {}
    for call in calls:
        offset = given.offsets.get(str(call.get("item_id")))
        if offset is not None:
            bands.setdefault(offset // band_s, []).extend(given.lateness([call]))
    return {
        f"{b * band_s}-{b * band_s + band_s - 1}": (float(np.percentile(v, 50)), max(v))
        for b, v in sorted(bands.items())
        if v
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pc", type=int, default=15, help="provisioned concurrency")
    parser.add_argument("--init", type=float, default=1.0, help="ColdStartDelaySeconds")
    parser.add_argument("--work-ms", type=float, default=1500.0, help="each item's durationSeconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the report here, keep it")
    parser.add_argument(
        "--unstamped", action="store_true", help="no startAt: waits count from each child's start"
    )
    args = parser.parse_args()
    print(f"load average before: {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-arrivals-") as tmp:
        out = args.keep or Path(tmp) / "report"
        # --unstamped: the runner sends the items as given (only startAfterSeconds)
        unstamped = "import pclab.cloud.input as i; i.ExecutionInput.stamped = lambda s, now: s; "
        cli = [
            "-c",
            f"{unstamped if args.unstamped else ''}import sys; from pclab.cli import main; "
            "sys.exit(main(sys.argv[1:]))",
        ]
        command = [
            sys.executable, *cli, "demo", "--out", str(out), "--no-charts",
            "--together", "--source-wait", "30", "--arrivals", "poisson",
            "--rate", f"{args.rate:g}", "--seconds", f"{args.seconds:g}", "--seed", str(args.seed),
            "--duration-ms", f"{args.work_ms:g}", "--parameter-overrides",
            f"ColdStartDelaySeconds={args.init:g}", f"ProvisionedConcurrency={args.pc}",
            "SnapStartArm=off",  # the two arms compared, not a third one's children beside them
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        print(f"load average after:  {load()}")
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
            return 1
        timings = json.loads((out / "timings.json").read_text())
        report = json.loads((out / "report.json").read_text())
        print(
            f"poisson {args.rate:g}/s over {args.seconds:g} s (seed {args.seed}), PC {args.pc}, "
            f"init {args.init:g} s, work {args.work_ms:g} ms; demo {wall:.0f} s "
            f"(executions {timings.get('executions', 0):.1f} s)"
        )
        print(f"{'run':<12} {'':<6} {'calls':>6} {'by PC':>6} {'spill':>6} {'cold':>6}")
        for run in report["runs"]:
            label = LABELS.get(run["name"].split("TestStateMachine")[0], "")
            if not label:
                continue  # another arm of the template (SnapStart): not what this compares
            given = run_arrivals(out, run["name"])
            offsets = list(given.offsets.values())
            pc = run["provisioned_concurrency"]
            simulated = replay(out / "report.json", offsets, pc, run=run["name"])
            counts = compare(run, simulated)
            calls = [c for c in report["invocations"] if c["run"] == run["name"]]
            late = np.asarray(given.lateness(calls))
            # the same calls at the times they really started (the Map's children start late)
            starts = [c["started_at"] - given.zero for c in calls if c.get("started_at")]
            real = compare(run, replay(out / "report.json", starts, pc, run=run["name"]))
            rows = (("local", counts, 0), ("sim", counts, 1), ("sim@", real, 1))
            for side, values, index in rows:
                row = " ".join(f"{value[index]:>6}" for value in values.values())
                print(f"{label if side == 'local' else '':<12} {side:<6} {row}")
            overhead = run["latency_s"]["overhead"]
            burst = BURST_OVERHEAD_S[label]
            print(
                f"{'':<12} started after their arrival time: p50 {np.percentile(late, 50):.3f} s, "
                f"p99 {np.percentile(late, 99):.3f} s, max {late.max():.3f} s"
            )
            print(f"{'':<12} by offset (s): p50 / max late")
            for band, (p50, worst) in late_by_offset(given, calls).items():
                print(f"{'':<14} {band:>7}: {p50:6.3f} / {worst:6.3f}")
            print(
                f"{'':<12} overhead p50 {overhead['p50']:.3f} s, p99 {overhead['p99']:.3f} s "
                f"(burst of 150: p50 {burst[0]:.3f} s, p99 {burst[1]:.3f} s); "
                f"init p50 {run['latency_s']['init']['p50'] or 0:.3f} s, "
                f"handler p50 {run['latency_s']['handler']['p50']:.3f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
