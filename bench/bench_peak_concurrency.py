"""Peak concurrency reached against asked, per load mode, in the local cloud.

For each item count, `pclab demo` (its own local cloud, sam-package.sh, sam-deploy.sh, both state
machines, the report) with LoadMode=DISTRIBUTED and MapMaxConcurrency=0, so every item is asked
to run at once: asked = items. Provisioned and reserved concurrency are sized to the item count,
so nothing throttles and the PC alias serves every call warm. The peak is the report's maximum
overlap of the calls as the caller saw them (X-Ray's AWS::Lambda segments). One INLINE run at
150 items shows the other mode's cap (asked 40). Goal: peak / asked 0.95 or more.

Usage: .venv/bin/python bench/bench_peak_concurrency.py [--items 150 300] [--work S] [--no-inline]
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

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.95


def demo(items: int, load_mode: str, work: float) -> tuple[list[dict[str, Any]], float]:
    """Report runs of one `pclab demo`, and its wall time."""
    with tempfile.TemporaryDirectory(prefix="bench-peak-") as tmp:
        out = Path(tmp) / "report"
        command = [
            sys.executable, "-m", "pclab.cli", "demo", "--out", str(out), "--no-charts",
            "--items", str(items), "--source-wait", "15", "--parameter-overrides",
            f"LoadMode={load_mode}", "MapMaxConcurrency=0", "ColdStartDelaySeconds=0.5",
            f"FunctionDurationSeconds={work:g}", f"ProvisionedConcurrency={items}",
            f"ReservedConcurrency={max(items, 200)}",
        ]  # fmt: skip
        # idle reserved environments go before the provisioned run: fewer processes at once
        environment = {**os.environ, "PCLAB_ENV_IDLE_TIMEOUT": "5"}
        started = time.monotonic()
        done = subprocess.run(
            command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False
        )
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"pclab demo failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        runs: list[dict[str, Any]] = json.loads((out / "report.json").read_text())["runs"]
    return runs, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[150, 300])
    parser.add_argument("--work", type=float, default=3.0, help="FunctionDurationSeconds")
    parser.add_argument("--no-inline", action="store_true", help="skip the INLINE reference run")
    args = parser.parse_args()
    cases = [(items, "DISTRIBUTED") for items in args.items]
    if not args.no_inline:
        cases.append((150, "INLINE"))
    worst = 1.0
    print(f"work {args.work:g} s per call, init 0.5 s, PC = reserved = items, MapMaxConcurrency 0")
    for items, mode in cases:
        runs, wall = demo(items, mode, args.work)
        for run in runs:
            peak, asked = run["concurrency"]["peak"], run["concurrency"]["asked"]
            ratio = peak / asked if asked else 0.0
            if mode == "DISTRIBUTED":
                worst = min(worst, ratio)
            label = "reserved" if run["name"].startswith("Base") else "provisioned"
            print(
                f"{mode:<11} items {items:4d}  {label:<11}  peak {peak:4d} / asked {asked:4d}"
                f"  = {ratio:.3f}  cold {run['cold_starts']:4d}  PC {run['served_by_pc']:4d}"
            )
        print(f"{'':<11} (pclab demo wall time {wall:.0f} s)")
    verdict = "met" if worst >= GOAL else "NOT met"
    print(f"worst distributed peak/asked {worst:.3f} (goal {GOAL}): {verdict}")
    return 0 if worst >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
