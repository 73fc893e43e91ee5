"""Benchmark: do 150 cold starts at once overlap as on Lambda? (issue 11, item 2)

Goal: 150 environments cold-starting at once finish their init within 10 % of one environment's
init (the project's real handler, functions/concurrencytest.py, which imports aws-xray-sdk and so
botocore; ColdStartDelaySeconds=1; 128 MB).

For 1 and then 150 on-demand calls at once (each a cold start, through EnvironmentManager with
real processes), it reports each environment's init as X-Ray's Initialization subsegment shows it
(what REPORT's Init Duration says too), and:
  - ratio = the slowest of the 150 inits / the single environment's init (goal <= 1.10),
  - the spread of the 150 init end times (last minus first),
  - the burst's wall time from the first call to the last init's end (this includes the version's
    template start, once, which like the code unpack happens before any init's clock starts).
Both with the platform model on (``aws``: templates, modelled runtime start and dependency imports)
and off (``none``: raw local timings, every environment imports its dependencies itself). The
machine may be shared: the load average is printed with every run, since these numbers are
CPU-bound.

Usage: python bench/bench_cold_burst.py [--runs N] [--count 150] [--models aws,none]
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

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pclab.localcloud.environments import EnvironmentManager  # noqa: E402
from pclab.localcloud.invocation import FunctionSpec, InvokeRequest  # noqa: E402

console = Console(width=170)
INIT_DELAY = 1.0
GOAL = 1.10


class InitSink:
    """Keeps the Initialization subsegments Lambda's segments carry (start, end epoch seconds),
    or the subsegments of another name (``Restore``: bench_snapstart.py)."""

    def __init__(self, name: str = "Initialization") -> None:
        self.name = name
        self.inits: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def put_trace_segments(self, documents: list[str]) -> None:
        for doc in documents:
            for sub in json.loads(doc).get("subsegments", []):
                if sub.get("name") == self.name:
                    with self._lock:
                        self.inits.append((float(sub["start_time"]), float(sub["end_time"])))

    def put_log_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        pass


def _zip() -> bytes:
    """The handler zipped once: functions built from one package share its code (and SHA)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("concurrencytest.py", date_time=(2026, 1, 1, 0, 0, 0))
        zf.writestr(info, (REPO / "functions" / "concurrencytest.py").read_text())
    return buf.getvalue()


def real_handler_spec(name: str) -> FunctionSpec:
    code = _zip()
    return FunctionSpec(
        function_name=name,
        function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        version="1",
        handler="concurrencytest.lambda_handler",
        runtime="python3.11",
        memory_mb=128,
        timeout_seconds=60,
        environment={"COLD_START_DELAY": str(INIT_DELAY), "FUNCTION_DURATION": "0"},
        code_sha256=hashlib.sha256(code).hexdigest(),
        code_zip=code,
        tracing_active=True,
    )


def _burst(mgr: EnvironmentManager, sink: InitSink, name: str, count: int) -> dict[str, float]:
    """``count`` cold starts of function ``name`` at once; their inits as X-Ray shows them."""
    spec = real_handler_spec(name)
    payload = json.dumps({"item": {"id": 1}}).encode()
    gate = threading.Barrier(count)

    def one(_: int) -> None:
        gate.wait()  # every caller thread exists before the first call
        result = mgr.invoke(InvokeRequest(spec=spec, payload=payload, provisioned_qualifier=None))
        if result.function_error:
            raise RuntimeError(result.payload.decode())

    seen = len(sink.inits)
    load = os.getloadavg()[0]
    t0 = time.time()
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(one, range(count)))
    mgr.flush_telemetry()
    # Raw timings on a busy machine: a caller may reach the cloud after an early environment is
    # free again and reuse it; the inits that happened are what is measured.
    cold = mgr.stats(name).cold_starts
    inits = sink.inits[seen:]
    assert len(inits) == cold, f"{len(inits)} Initialization subsegments for {cold} cold starts"
    durations = [end - start for start, end in inits]
    ends = [end for _, end in inits]
    return {
        "load": load,
        "init_max_s": max(durations),
        "init_p50_s": statistics.median(durations),
        "spread_s": max(ends) - min(ends),
        "burst_s": max(ends) - t0,
        "cold": cold,
    }


def burst(model: str, count: int) -> list[tuple[str, dict[str, float]]]:
    """A version's first burst; then, with the platform model on, a second function of the same
    code once its spares are ready (what the sample's spillover or second run meets)."""
    sink = InitSink()
    mgr = EnvironmentManager(sink, platform_model=model)
    try:
        rows = [("first burst", _burst(mgr, sink, "first", count))]
        if model == "aws" and count > 1:
            deadline = time.monotonic() + 60
            while mgr.spare_count() < count and time.monotonic() < deadline:
                time.sleep(0.2)
            rows.append((f"with {mgr.spare_count()} spares", _burst(mgr, sink, "second", count)))
        return rows
    finally:
        mgr.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole measurement")
    parser.add_argument("--count", type=int, default=150, help="cold starts at once")
    parser.add_argument("--models", default="aws,none", help="platform models to compare")
    args = parser.parse_args()
    table = Table(
        "run",
        "model",
        "case",
        "load avg",
        "1 init s",
        f"{args.count}: init p50 s",
        "init max s",
        "end spread s",
        "burst s",
        f"ratio (goal <= {GOAL:.2f})",
    )
    console.print(
        f"{os.cpu_count()} CPUs; ColdStartDelaySeconds={INIT_DELAY}, real handler, 128 MB"
    )
    for run in range(1, args.runs + 1):
        for model in args.models.split(","):
            [(_, one)] = burst(model, 1)
            for case, many in burst(model, args.count):
                if many["cold"] != args.count:
                    case += f" ({many['cold']:.0f} cold)"
                ratio = many["init_max_s"] / one["init_max_s"]
                table.add_row(
                    str(run),
                    model,
                    case,
                    f"{one['load']:.1f} / {many['load']:.1f}",
                    f"{one['init_max_s']:.3f}",
                    f"{many['init_p50_s']:.3f}",
                    f"{many['init_max_s']:.3f}",
                    f"{many['spread_s']:.3f}",
                    f"{many['burst_s']:.3f}",
                    f"{ratio:.3f} " + ("MET" if ratio <= GOAL else "MISSED"),
                )
                console.print(f"run {run}, model {model}, {case}: ratio {ratio:.3f}")
    console.print(table)
    console.print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
