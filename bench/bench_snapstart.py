"""Benchmark: do 100 SnapStart restores at once overlap as on Lambda? (issue 16)

Goal: each of 100 restores at once within 10 % of the modelled restore (the platform model's
``restore_s``, 200 ms): on Lambda every environment resumes from the snapshot on its own microVM,
so a burst of restores takes as long as one. Here the snapshot is a process that forks every
restored environment, one fork at a time (``pclab/localcloud/environments/snapstart.py``).

For one restore and then ``--count`` at once (each a new environment of a published SnapStart
version of the project's real handler, functions/concurrencytest.py: aws-xray-sdk, so botocore, a
1 s init; 128 MB; through EnvironmentManager with real processes) it reports each restore as
X-Ray's ``Restore`` subsegment shows it (REPORT's ``Restore Duration`` too), and:
  - ratio = the slowest restore / the modelled restore (goal <= 1.10),
  - the burst's wall time from the first call to the last restore's end (this includes what the
    local cloud does before a restore's clock starts: the fork of the environment, when none was
    parked ahead),
  - each call's latency p50 / max (what the caller waited: restore, 50 ms of work, overhead).
A second burst of the same size and version follows once the first burst's environments are gone
(idle for 2 s) and the version's restored processes parked ahead are ready (``--no-second`` skips
it). The machine may be shared: the load
average is printed with every run, since these numbers are CPU-bound.

Usage: python bench/bench_snapstart.py [--runs N] [--count 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_cold_burst import InitSink, real_handler_spec  # noqa: E402
from pclab.lambda_model.platform import platform_model  # noqa: E402
from pclab.localcloud.environments import EnvironmentManager  # noqa: E402
from pclab.localcloud.invocation import FunctionSpec, InvokeRequest  # noqa: E402

console = Console(width=150)
GOAL = 1.10
IDLE_SECONDS = 2.0


class RestoreSink(InitSink):
    """The Restore subsegments (``inits``), and REPORT's Billed Restore Duration (the hooks)."""

    def __init__(self) -> None:
        super().__init__("Restore")
        self.billed: list[float] = []

    def put_log_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        for _, message in events:
            found = re.search(r"Billed Restore Duration: (\d+) ms", message)
            if found:
                with self._lock:
                    self.billed.append(int(found[1]) / 1000.0)


def snap_spec(name: str, version: str) -> FunctionSpec:
    spec = real_handler_spec(name)
    env = dict(spec.environment, FUNCTION_DURATION="0.05")
    return dataclasses.replace(spec, version=version, environment=env, snap_start=True)


def publish(mgr: EnvironmentManager, spec: FunctionSpec) -> None:
    mgr.publish_snapshot(spec)
    state = mgr.snapshots.wait(spec.function_name, spec.version, 120)
    if state != "Active":
        raise SystemExit(f"the snapshot of version {spec.version} is {state}")


def _burst(mgr: EnvironmentManager, sink: RestoreSink, spec: FunctionSpec, count: int) -> dict:
    payload = json.dumps({"item": {"id": 1}}).encode()
    gate = threading.Barrier(count)
    latencies: list[float] = []

    def one(_: int) -> None:
        gate.wait()  # every caller thread exists before the first call
        t = time.time()
        result = mgr.invoke(InvokeRequest(spec=spec, payload=payload, provisioned_qualifier=None))
        latencies.append(time.time() - t)
        if result.function_error:
            raise RuntimeError(result.payload.decode())

    seen, billed = len(sink.inits), len(sink.billed)
    before = mgr.stats(spec.function_name).cold_starts
    load = os.getloadavg()[0]
    t0 = time.time()
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(one, range(count)))
    mgr.flush_telemetry()
    cold = mgr.stats(spec.function_name).cold_starts - before
    restores = sink.inits[seen:]
    assert len(restores) == cold, f"{len(restores)} Restore subsegments for {cold} restores"
    durations = [end - start for start, end in restores]
    return {
        "load": load,
        "p50": statistics.median(durations),
        "max": max(durations),
        "burst": max(end for _, end in restores) - t0,
        "hooks_max": max(sink.billed[billed:]),
        "call_p50": statistics.median(latencies),
        "call_max": max(latencies),
        "cold": cold,
    }


def run(count: int, second: bool) -> list[tuple[str, dict]]:
    sink = RestoreSink()
    # Idle environments go after 2 s, so a second burst of the same version restores again.
    mgr = EnvironmentManager(sink, platform_model="aws", idle_timeout_seconds=IDLE_SECONDS)
    try:
        modelled = platform_model("aws").restore_s()
        one = snap_spec("one", "1")
        publish(mgr, one)
        rows = [("1 restore", _burst(mgr, sink, one, 1))]
        spec = snap_spec("burst", "1")
        publish(mgr, spec)
        rows.append((f"{count} at once, first", _burst(mgr, sink, spec, count)))
        if second:  # once the first burst's environments are gone and the spares are parked
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and (
                mgr.environment_pids("burst") or mgr.spare_count() < count
            ):
                time.sleep(0.2)
            case = f"{count} at once, {mgr.spare_count()} parked"
            rows.append((case, _burst(mgr, sink, spec, count)))
        for _, row in rows:
            row["ratio"] = row["max"] / modelled
        return rows
    finally:
        mgr.shutdown()


COLUMNS = (
    "run",
    "case",
    "load avg",
    "restore p50 s",
    "restore max s",
    "burst s",
    "call p50 s",
    "call max s",
    "hooks max s",
    f"max / modelled (goal <= {GOAL:.2f})",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100, help="restores at once")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole measurement")
    parser.add_argument("--no-second", action="store_true", help="skip the second burst")
    args = parser.parse_args()
    table = Table(*COLUMNS)
    console.print(f"{os.cpu_count()} CPUs; real handler, 1 s init, 50 ms work, 128 MB")
    for n in range(1, args.runs + 1):
        for case, row in run(args.count, not args.no_second):
            if row["cold"] != (1 if case == "1 restore" else args.count):
                case += f" ({row['cold']} restores)"
            table.add_row(
                str(n),
                case,
                f"{row['load']:.1f}",
                f"{row['p50']:.3f}",
                f"{row['max']:.3f}",
                f"{row['burst']:.3f}",
                f"{row['call_p50']:.3f}",
                f"{row['call_max']:.3f}",
                f"{row['hooks_max']:.3f}",
                f"{row['ratio']:.3f} " + ("MET" if row["ratio"] <= GOAL else "MISSED"),
            )
    console.print(table)
    console.print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
