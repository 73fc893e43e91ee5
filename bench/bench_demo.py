"""`make demo`'s wall time against its physical floor.

Runs `pclab demo` (local cloud, sam-package.sh, sam-deploy.sh, both state machines, collection,
report) at the sample's own numbers and compares each execution with the least time physics
allows: an inline Map runs 40 items at once, so 150 items are 4 waves;
  reserved:    the first wave waits for init + work, the 3 later waves only for work
               (5 + 3) + 3 * 3 = 17 s
  provisioned: every wave only for work, 4 * 3 = 12 s
  deploy:      at least the PC init (5 s), all environments in parallel.
Goal: the runs themselves within 1.10 of their floor. Usage:
  .venv/bin/python bench/bench_demo.py [--items N] [--init S] [--work S]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INLINE_MAP_LIMIT = 40
GOAL = 1.10


def execution_seconds(out: Path, prefix: str) -> float:
    (folder,) = [p for p in (out / "raw").iterdir() if p.name.startswith(prefix)]
    describe = json.loads((folder / "describe-execution.json").read_text())
    start = datetime.fromisoformat(describe["startDate"])
    stop = datetime.fromisoformat(describe["stopDate"])
    return (stop - start).total_seconds()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=150)
    parser.add_argument("--init", type=float, default=5.0, help="ColdStartDelaySeconds")
    parser.add_argument("--work", type=float, default=3.0, help="FunctionDurationSeconds")
    args = parser.parse_args()
    waves = math.ceil(args.items / INLINE_MAP_LIMIT)
    floors = {
        "reserved": args.init + args.work + (waves - 1) * args.work,
        "provisioned": waves * args.work,
    }
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        out = Path(tmp) / "report"
        command = [
            sys.executable, "-m", "pclab.cli", "demo", "--out", str(out), "--no-charts",
            "--items", str(args.items), "--parameter-overrides",
            f"ColdStartDelaySeconds={args.init:g}", f"FunctionDurationSeconds={args.work:g}",
            f"ProvisionedConcurrency={args.items}",
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        if done.returncode != 0:
            print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
            return 1
        timings = json.loads((out / "timings.json").read_text())
        runs_seen = json.loads((out / "report.json").read_text())["runs"]
        actual = {
            "reserved": execution_seconds(out, "BaseConcurrencyTestStateMachine"),
            "provisioned": execution_seconds(out, "ProvisionedConcurrencyTestStateMachine"),
        }
    print(f"items {args.items}, init {args.init:g} s, work {args.work:g} s, {waves} waves of 40")
    for label, seconds in actual.items():
        print(
            f"{label:<12} execution {seconds:6.1f} s   floor {floors[label]:5.1f} s   "
            f"ratio {seconds / floors[label]:.2f}"
        )
    for run in runs_seen:
        cold = run["latency_s"]["caller_cold"]["p50"]
        warm = run["latency_s"]["caller_warm"]["p50"]
        print(
            f"  {run['name'][:40]:<40} cold {run['cold_starts']:>3}/{run['invocations']}  "
            f"peak {run['concurrency']['peak']}  cold p50 {cold or 0:.2f} s  "
            f"warm p50 {warm or 0:.2f} s"
        )
    runs, floor = sum(actual.values()), sum(floors.values())
    waited = timings.get("executions", 0.0)
    print(
        f"runs         {runs:6.1f} s   floor {floor:5.1f} s   ratio {runs / floor:.2f} "
        f"(goal {GOAL})"
    )
    print(f"runs as pclab waited (start to last poll): {waited:.1f} s, ratio {waited / floor:.2f}")
    print(
        f"deploy {timings.get('deploy', 0):.1f} s (floor: PC init {args.init:g} s), "
        f"package {timings.get('package', 0):.1f} s, "
        f"collection {timings.get('collection', 0):.1f} s, "
        f"report {timings.get('report', 0):.1f} s"
    )
    print(f"make demo equivalent wall time {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
