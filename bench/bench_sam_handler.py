"""What the handler itself costs on this machine, apart from the delays it is told to take.

* init floor: ``initDurationMs`` with ``COLD_START_DELAY=0`` in fresh processes, i.e. importing
  aws-xray-sdk (and botocore with it) plus the module body: the part of a cold start that is not
  the configured delay.
* per-call overhead: wall time per warm call with ``FUNCTION_DURATION=0``
  (validation, the X-Ray subsegment, the log line), outside Lambda (no trace context).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "tests" / "sam_app" / "handler_harness.py"
PROCESSES = 5
WARM_CALLS = 300


def run(calls: int) -> list[dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDA_", "_X_AMZN"))}
    env.update({"COLD_START_DELAY": "0", "FUNCTION_DURATION": "0"})
    plan = {"calls": [{"event": {"item": {"id": n}}} for n in range(calls)]}
    proc = subprocess.run(
        [sys.executable, str(HARNESS), json.dumps(plan)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return [result["ok"] for result in report["results"]]


def main() -> None:
    inits = [float(str(run(1)[0]["initDurationMs"])) for _ in range(PROCESSES)]
    print(
        f"init floor (COLD_START_DELAY=0), {PROCESSES} fresh processes: "
        f"median {statistics.median(inits):.0f} ms, min {min(inits):.0f}, max {max(inits):.0f}"
    )
    warm = run(WARM_CALLS)[1:]
    # Epoch times are rounded to 1 ms: spread over the whole run, the rounding error is tiny.
    span_ms = (float(str(warm[-1]["finishedAt"])) - float(str(warm[0]["startedAt"]))) * 1000
    print(
        f"per-call overhead (FUNCTION_DURATION=0): {span_ms / len(warm):.3f} ms a call "
        f"on average over {len(warm)} warm calls (handler, subsegment, log line, harness loop)"
    )


if __name__ == "__main__":
    main()
