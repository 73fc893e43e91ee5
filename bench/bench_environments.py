"""Benchmark the local cloud's Lambda execution environments (issue: execution environments).

Goals on a 2-core machine:
  1. warm invoke added latency, 100 environments busy on a 0.3 s handler: p99 <= 5 ms
  2. 150 environments cold-starting at once: all ready within 2 s of the configured init delay
  3. >= 300 concurrent environments without failure (peak memory reported)

Added latency = what the caller waited minus what the handler itself measured for its work.
Cold starts are measured both for a handler without dependencies and for the project's real
handler (functions/concurrencytest.py, which imports aws-xray-sdk and so botocore: that import is
part of every real cold start, and is not preloaded), with the fork server and with plain spawns.

It measures the emulator itself, so it runs with the platform model off (raw local timings,
``platform_model="none"``); bench/bench_cold_burst.py measures cold starts with it on.

Usage: python bench/bench_environments.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pclab.localcloud.environments import EnvironmentManager  # noqa: E402
from pclab.localcloud.invocation import FunctionSpec, InvokeRequest  # noqa: E402

console = Console()

MINIMAL = """
import os, time
T0 = time.time()
time.sleep(float(os.environ["COLD_START_DELAY"]))
T1 = time.time()
def handler(event, context):
    started = time.perf_counter()
    time.sleep(float(event.get("sleep", 0)))
    return {"workMs": (time.perf_counter() - started) * 1000.0, "pid": os.getpid(),
            "initEndedAt": T1}
"""


class NullSink:
    def put_trace_segments(self, documents: list[str]) -> None:
        pass

    def put_log_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        pass


def spec_for(
    name: str, *, real_handler: bool, init_delay: float, timeout: int = 60
) -> FunctionSpec:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        if real_handler:
            zf.writestr(
                "concurrencytest.py", (REPO / "functions" / "concurrencytest.py").read_text()
            )
        else:
            zf.writestr("app.py", MINIMAL)
    code = buf.getvalue()
    return FunctionSpec(
        function_name=name,
        function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        version="1",
        handler="concurrencytest.lambda_handler" if real_handler else "app.handler",
        runtime="python3.11",
        memory_mb=128,
        timeout_seconds=timeout,
        environment={"COLD_START_DELAY": str(init_delay), "FUNCTION_DURATION": "0"},
        code_sha256=hashlib.sha256(code).hexdigest(),
        code_zip=code,
    )


def invoke(mgr: EnvironmentManager, spec: FunctionSpec, event: dict[str, Any]) -> dict[str, Any]:
    result = mgr.invoke(
        InvokeRequest(spec=spec, payload=json.dumps(event).encode(), provisioned_qualifier=None)
    )
    if result.function_error:
        raise RuntimeError(result.payload.decode())
    doc: dict[str, Any] = json.loads(result.payload)
    return doc


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def memory_of(pids: list[int]) -> tuple[float, float]:
    """(sum of RSS, sum of PSS) in MB: PSS splits pages shared by forked children fairly."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024


def children_tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found.extend(kids)
        frontier.extend(kids)
    return found


# --- 1. warm latency ------------------------------------------------------------------------------
def bench_warm_latency(rounds: int) -> dict[str, float]:
    mgr = EnvironmentManager(NullSink(), platform_model="none")
    try:
        spec = spec_for("warm", real_handler=False, init_delay=0)
        with ThreadPoolExecutor(100) as pool:
            list(pool.map(lambda _: invoke(mgr, spec, {"sleep": 0.3}), range(100)))  # 100 envs
        added: list[float] = []

        def worker(i: int) -> list[float]:
            # Steady state, not a synchronised burst: the 100 callers start spread over one
            # handler duration, as independent callers (or Map iterations finishing at their
            # own pace) do, then each invokes back to back, keeping its environment busy.
            time.sleep(0.3 * i / 100)
            out = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                doc = invoke(mgr, spec, {"sleep": 0.3})
                out.append((time.perf_counter() - t0) * 1000.0 - doc["workMs"])
            return out

        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("warm invokes, 100 busy", total=None)
            with ThreadPoolExecutor(100) as pool:
                for values in pool.map(worker, range(100)):
                    added.extend(values)
            progress.update(task, completed=1)
        assert mgr.stats("warm").environments == 100, mgr.stats("warm")
        return {
            "invokes": len(added),
            "p50": pct(added, 50),
            "p95": pct(added, 95),
            "p99": pct(added, 99),
            "max": max(added),
            "mean": statistics.fmean(added),
        }
    finally:
        mgr.shutdown()


# --- 2. cold starts -------------------------------------------------------------------------------
def bench_cold(
    count: int, init_delay: float, real_handler: bool, launcher: str
) -> dict[str, float]:
    mgr = EnvironmentManager(NullSink(), launcher=launcher, platform_model="none")  # type: ignore[arg-type]
    try:
        spec = spec_for("cold", real_handler=real_handler, init_delay=init_delay)
        event: dict[str, Any] = {"item": {"id": 1}} if real_handler else {}
        # Provisioned allocation: every environment initialised at once, nobody waiting.
        t0 = time.monotonic()
        mgr.put_provisioned_concurrency(spec, "live", count)
        while mgr.provisioned_status("cold", "live")[0] == "IN_PROGRESS":
            time.sleep(0.01)
        pc_ready = time.monotonic() - t0
        status = mgr.provisioned_status("cold", "live")
        mgr.delete_provisioned_concurrency("cold", "live")
        time.sleep(0.5)
        # On demand: `count` callers at once, each waiting for its own cold start.
        t0 = time.monotonic()
        with ThreadPoolExecutor(count) as pool:
            done = list(
                pool.map(
                    lambda _: time.monotonic() - t0 if invoke(mgr, spec, event) else 0.0,
                    range(count),
                )
            )
        return {
            "pc_ready_s": pc_ready,
            "pc_over_delay_s": pc_ready - init_delay,
            "pc_status": status[0] == "READY" and status[1] == count,
            "od_all_s": max(done),
            "od_over_delay_s": max(done) - init_delay,
            "od_p50_s": pct(done, 50),
            "cold_starts": mgr.stats("cold").cold_starts,
        }
    finally:
        mgr.shutdown()


# --- 3. many environments -------------------------------------------------------------------------
def bench_many(count: int, real_handler: bool) -> dict[str, float]:
    mgr = EnvironmentManager(NullSink(), platform_model="none")
    peak = {"rss": 0.0, "pss": 0.0}
    try:
        spec = spec_for("many", real_handler=real_handler, init_delay=0.2)
        # Long enough that all `count` calls are in flight together, however slow 300 cold
        # starts on two cores are: none may end and free its environment for another.
        work = 8.0 if real_handler else 3.0
        event: dict[str, Any] = (
            {"item": {"id": 1, "durationSeconds": work}} if real_handler else {"sleep": work}
        )
        failures = 0
        start = threading.Barrier(count)

        def one(_: int) -> None:
            nonlocal failures
            start.wait()  # every caller thread exists before the first call
            try:
                invoke(mgr, spec, event)
            except Exception:
                failures += 1

        t0 = time.monotonic()
        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(one, i) for i in range(count)]
            while not all(f.done() for f in futures):
                rss, pss = memory_of([os.getpid(), *children_tree(os.getpid())])
                peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)
                time.sleep(0.2)
        stats = mgr.stats("many")
        return {
            "environments": stats.peak_environments,
            "concurrent": stats.peak_inflight,
            "failures": failures,
            "wall_s": time.monotonic() - t0,
            "peak_rss_mb": peak["rss"],
            "peak_pss_mb": peak["pss"],
        }
    finally:
        mgr.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    rounds = 3 if args.quick else 10

    # The machine may be shared: say how busy it was, since every number here is CPU-bound.
    console.print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    console.rule("1. warm invoke added latency (100 environments busy, 0.3 s handler)")
    warm = bench_warm_latency(rounds)
    table = Table("invokes", "p50 ms", "p95 ms", "p99 ms", "max ms", "goal")
    table.add_row(
        str(warm["invokes"]),
        f"{warm['p50']:.2f}",
        f"{warm['p95']:.2f}",
        f"{warm['p99']:.2f}",
        f"{warm['max']:.2f}",
        "p99 <= 5 ms: " + ("MET" if warm["p99"] <= 5 else "MISSED"),
    )
    console.print(table)

    console.rule("2. 150 environments cold-starting at once (init delay 1.0 s)")
    table = Table(
        "handler",
        "launcher",
        "PC all READY s",
        "over delay",
        "on-demand all s",
        "over delay",
        "goal <= 2 s over",
    )
    cases = [
        ("minimal", False, "forkserver"),
        ("minimal", False, "spawn"),
        ("real (aws-xray-sdk)", True, "forkserver"),
    ]
    if not args.quick:
        cases.append(("real (aws-xray-sdk)", True, "spawn"))
    for label, real, launcher in cases:
        r = bench_cold(150, 1.0, real, launcher)
        worst = max(r["pc_over_delay_s"], r["od_over_delay_s"])
        table.add_row(
            label,
            launcher,
            f"{r['pc_ready_s']:.2f}",
            f"{r['pc_over_delay_s']:.2f}",
            f"{r['od_all_s']:.2f}",
            f"{r['od_over_delay_s']:.2f}",
            "MET" if worst <= 2 and r["pc_status"] else "MISSED",
        )
    console.print(table)

    console.rule("3. 300 concurrent environments (all in flight together)")
    table = Table(
        "handler",
        "environments",
        "concurrent",
        "failures",
        "wall s",
        "peak RSS sum MB",
        "peak PSS MB",
    )
    for label, real in [("minimal", False), ("real (aws-xray-sdk)", True)]:
        r = bench_many(300, real)
        table.add_row(
            label,
            str(r["environments"]),
            str(r["concurrent"]),
            str(r["failures"]),
            f"{r['wall_s']:.1f}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['peak_pss_mb']:.0f}",
        )
    console.print(table)
    console.print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
