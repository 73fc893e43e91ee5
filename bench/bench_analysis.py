"""Benchmark: analysis of 10,000 calls from all four sources to report.json (goal: 2 s or less).

Writes a simulated run's four documents to files (not timed), then times what
``pclab analyze --no-charts`` does with them: read and parse each file with its adapter, join,
classify, summarise, and write report.json. The HTML page and PNG charts are timed separately
(they are not part of the goal). Wall and CPU time are both printed, with the load average: on
a busy 2-core machine wall time measures the neighbours.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the simulated-run document builder

from analysis import synthetic  # noqa: E402

from pclab.analysis.model import RunConfig, Source, SourceBatch  # noqa: E402
from pclab.analysis.offline import load_file  # noqa: E402
from pclab.analysis.pipeline import analyze  # noqa: E402
from pclab.report import write_report  # noqa: E402
from pclab.report.json_report import write_json_report  # noqa: E402

CALLS = 10_000
GOAL_SECONDS = 2.0


def main() -> int:
    run = synthetic.simulate(CALLS, provisioned=0, map_limit=1000)
    documents = {
        Source.EXECUTION_OUTPUT: synthetic.execution_output(run),
        Source.EXECUTION_HISTORY: synthetic.execution_history(run),
        Source.XRAY: synthetic.xray_traces(run),
        Source.LOGS: synthetic.log_events(run),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {}
        for source, document in documents.items():
            files[source] = folder / f"{source}.json"
            files[source].write_text(json.dumps(document))
        del documents, run
        size_mb = sum(path.stat().st_size for path in files.values()) / 1e6
        print(f"documents: {CALLS} calls, {size_mb:.1f} MB of JSON in 4 files")

        timings: dict[str, float] = {}
        began, cpu_began = time.perf_counter(), time.process_time()
        mark = began
        batches = []
        for source, path in files.items():
            batches.append(load_file(source, path))
            now = time.perf_counter()
            timings[f"read+parse {source}"] = now - mark
            mark = now
        analysis = analyze(batches, [RunConfig(name=run_name(batches), max_concurrency=0)])
        now = time.perf_counter()
        timings["join+summary"] = now - mark
        mark = now
        write_json_report(analysis, folder / "out" / "report.json")
        now = time.perf_counter()
        timings["report.json"] = now - mark
        total, cpu = now - began, time.process_time() - cpu_began
        for name, seconds in timings.items():
            print(f"  {name:<30} {seconds:6.3f} s")
        (summary,) = analysis.runs
        verdict = "OK" if total <= GOAL_SECONDS else "MISSED"
        print(
            f"analysis to report.json: {total:.3f} s wall, {cpu:.3f} s CPU for "
            f"{summary.invocations} calls ({summary.cold_starts} cold); goal <= "
            f"{GOAL_SECONDS:.1f} s: {verdict}"
        )
        print(f"  load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        began = time.perf_counter()
        write_report(analysis, folder / "out")
        elapsed = time.perf_counter() - began
        print(f"separately (not in the goal): report.html + PNG charts {elapsed:.3f} s")
    return 0 if total <= GOAL_SECONDS else 1


def run_name(batches: list[SourceBatch]) -> str:
    return next(inv.run_key for batch in batches for inv in batch.invocations if inv.state_machine)


if __name__ == "__main__":
    sys.exit(main())
