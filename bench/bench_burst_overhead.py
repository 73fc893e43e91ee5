"""What the local cloud adds around the handler at a burst through the state machines (issue 11).

Goals (item 2): 150 cold starts at once each finish their init within 10 % of one environment's
init (printed as the slowest init over the fastest, an upper bound of that ratio). Item 3: at 150
simultaneous warm calls, overhead p50 <= 20 ms and p99 <= 100 ms; at 150
simultaneous cold starts, p99 <= 400 ms beyond the init. Item 6: PC warm p50 equal to on-demand
warm p50 within 20 ms.

Overhead = the caller's latency - the handler's own time - the init it waited for (report.json's
``latency_s.overhead``, the same number the report shows). It is split into "start" (the call
accepted -> the handler running, init excluded) and "end" (the handler done -> the caller's answer).

It starts a local cloud in the background (its own state folder and port), deploys the template
with the real scripts (sam-package.sh / sam-deploy.sh), then runs `pclab run` ``--rounds`` times on
the same stack: round 1's reserved run is 150 cold starts, later rounds are warm on both arms (the
reserved function's environments are reused). Every round runs both state machines, one after the
other, as `pclab run` does. The load average is printed with each round: these are CPU-bound.

Usage: .venv/bin/python bench/bench_burst_overhead.py [--items 150] [--rounds 3] [--inline]
       [--init 1] [--work 2] [--snapstart]
(`--inline --init 5 --work 3 --rounds 1 --snapstart` is what `make demo` deploys and runs.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from pclab.cloud.snapstart_python import find_python312, link_dir  # noqa: E402

WARM_P50, WARM_P99, COLD_P99, PC_GAP = 0.020, 0.100, 0.400, 0.020
ARMS = {"Provisioned": "provisioned", "SnapStart": "snapstart", "Base": "reserved"}


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sh(command: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("a") as out:
        done = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=out, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:2])} failed (exit {done.returncode}); see {log}")


def calls_of(report: dict) -> dict[tuple[str, str], list[dict]]:
    """The report's invocations by (arm, cold|warm)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for call in report["invocations"]:
        if call.get("handler_start") is None or call.get("started_at") is None:
            continue
        arm = next((a for p, a in ARMS.items() if call["run"].startswith(p)), "reserved")
        groups.setdefault((arm, "cold" if call["cold"] else "warm"), []).append(call)
    return groups


def describe(arm: str, kind: str, calls: list[dict]) -> tuple[str, dict[str, float]]:
    def init(c: dict) -> float:
        if c["cold"] and c.get("init_start") is not None and c.get("init_end") is not None:
            return float(c["init_end"] - c["init_start"])
        return 0.0

    overhead = [float(c["overhead_s"]) for c in calls if c.get("overhead_s") is not None]
    start = [c["handler_start"] - c["started_at"] - init(c) for c in calls]
    end = [c["ended_at"] - c["handler_end"] for c in calls]
    caller = [float(c["caller_latency_s"]) for c in calls]
    stats = {
        "p50": quantile(overhead, 0.5),
        "p99": quantile(overhead, 0.99),
        "caller_p50": quantile(caller, 0.5),
    }
    if kind == "cold":
        inits = [init(c) for c in calls if init(c) > 0]
        # item 2: every init within 10 % of one environment's; max/min bounds that from above
        spread = max(inits) / min(inits) if inits else float("nan")
        goal = f"p99/goal {stats['p99'] / COLD_P99:.2f}; init max/min {spread:.3f} (goal 1.10)"
    else:
        goal = f"p50/goal {stats['p50'] / WARM_P50:.2f}, p99/goal {stats['p99'] / WARM_P99:.2f}"
    line = (
        f"  {arm:<11} {kind} n={len(calls):>4}  overhead p50 {stats['p50'] * 1000:6.1f} ms  "
        f"p99 {stats['p99'] * 1000:6.1f} ms  ({goal})  start p50/p99 "
        f"{quantile(start, 0.5) * 1000:.0f}/{quantile(start, 0.99) * 1000:.0f} ms  end p50/p99 "
        f"{quantile(end, 0.5) * 1000:.1f}/{quantile(end, 0.99) * 1000:.0f} ms  "
        f"caller p50 {stats['caller_p50']:.3f} s"
    )
    return line, stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inline", action="store_true", help="LoadMode=INLINE (40 at once)")
    parser.add_argument("--init", type=float, default=1.0, help="ColdStartDelaySeconds")
    parser.add_argument("--work", type=float, default=2.0, help="FunctionDurationSeconds")
    parser.add_argument("--port", type=int, default=4597)
    parser.add_argument(
        "--snapstart",
        action="store_true",
        help="the SnapStart arm too (PythonRuntime=python3.12, as make demo deploys when it can)",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    env = dict(os.environ)
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '')}",
        PCLAB_STATE_DIR=str(tmp / "state"),
        PCLAB_BUILD_DIR=str(tmp / "build"),
        AWS_ENDPOINT_URL=f"http://localhost:{args.port}",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        SAM_CLI_TELEMETRY="0",
    )
    log = tmp / "bench.log"
    if args.snapstart:  # sam build needs a python3.12 first on PATH, as the demo arranges
        python = find_python312()
        if python is None:
            sys.exit("--snapstart needs a python3.12 (pyenv's, or on PATH); run without it")
        env["PATH"] = f"{link_dir(python, tmp / 'python')}{os.pathsep}{env['PATH']}"
    pclab = [str(BIN / "pclab")]
    mode = "INLINE" if args.inline else "DISTRIBUTED"
    print(f"{args.items} items, {mode}, init {args.init:g} s, work {args.work:g} s; logs in {tmp}")
    sh([*pclab, "local-cloud", "start", "--detach", "--port", str(args.port)], env, log)
    try:
        sh([str(BIN / "python"), "-c", "import boto3; boto3.client('s3').create_bucket("
            "Bucket='bench-burst')"], env, log)  # fmt: skip
        sh(
            ["./sam-package.sh", "template.yaml", str(tmp / "packaged.yaml"), "bench-burst"],
            env,
            log,
        )
        sh(["./sam-deploy.sh", "burst", str(tmp / "packaged.yaml"), "--parameter-overrides",
            f"ColdStartDelaySeconds={args.init:g}", f"FunctionDurationSeconds={args.work:g}",
            f"LoadMode={mode}", f"ProvisionedConcurrency={args.items}",
            f"ReservedConcurrency={2 * args.items}",
            *(["SnapStartArm=on", "PythonRuntime=python3.12"] if args.snapstart
              else ["SnapStartArm=off", "PythonRuntime=python3.11"])], env, log)  # fmt: skip
        for round_no in range(1, args.rounds + 1):
            out = tmp / f"round{round_no}"
            load_before = os.getloadavg()[0]
            sh([*pclab, "run", "--stack", "burst", "--items", str(args.items), "--out", str(out),
                "--no-charts", "--source-wait", "30"], env, log)  # fmt: skip
            report = json.loads((out / "report.json").read_text())
            print(f"round {round_no} (load {load_before:.2f} -> {os.getloadavg()[0]:.2f})")
            warm: dict[str, float] = {}
            for (arm, kind), calls in sorted(calls_of(report).items()):
                line, stats = describe(arm, kind, calls)
                print(line)
                if kind == "warm":
                    warm[arm] = stats["caller_p50"]
            if len(warm) == 2:
                gap = abs(warm["reserved"] - warm["provisioned"])
                print(f"  warm caller p50 gap (PC vs on-demand) {gap * 1000:.1f} ms "
                      f"(gap/goal {gap / PC_GAP:.2f})")  # fmt: skip
    finally:
        subprocess.run([*pclab, "local-cloud", "stop"], cwd=ROOT, env=env, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
