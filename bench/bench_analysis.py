"""Benchmark: analysis of 10,000 calls from all four sources to report.json (goal: 2 s or less).

Builds a simulated run's documents (not timed), then times what ``pclab analyze`` does with them:
parse the four documents from JSON text, run each adapter, join, classify, summarise, and write
report.json. PNG charts and the HTML page are timed separately (they are not part of the goal).
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
from pclab.analysis.pipeline import analyze  # noqa: E402
from pclab.analysis.sources.execution_history import parse_execution_history  # noqa: E402
from pclab.analysis.sources.execution_output import parse_execution_output  # noqa: E402
from pclab.analysis.sources.logs import parse_logs  # noqa: E402
from pclab.analysis.sources.xray import parse_traces  # noqa: E402

CALLS = 10_000
GOAL_SECONDS = 2.0


def main() -> int:
    run = synthetic.simulate(CALLS, provisioned=0, map_limit=1000)
    texts = {
        "output": json.dumps(synthetic.execution_output(run)),
        "history": json.dumps(synthetic.execution_history(run)),
        "xray": json.dumps(synthetic.xray_traces(run)),
        "logs": json.dumps(synthetic.log_events(run)),
    }
    size_mb = sum(len(t) for t in texts.values()) / 1e6
    print(f"documents: {CALLS} calls, {size_mb:.1f} MB of JSON ({', '.join(texts)})")
    from pclab.report import write_report
    from pclab.report.json_report import write_json_report

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        timings: dict[str, float] = {}
        began = time.perf_counter()
        cpu_began = time.process_time()
        mark = began
        batches = []
        for name, source, parse in (
            ("output", Source.EXECUTION_OUTPUT, parse_execution_output),
            ("history", Source.EXECUTION_HISTORY, parse_execution_history),
            ("xray", Source.XRAY, parse_traces),
            ("logs", Source.LOGS, parse_logs),
        ):
            records = parse(json.loads(texts[name]))
            batches.append(SourceBatch(source, tuple(records)))
            now = time.perf_counter()
            timings[f"parse {name}"] = now - mark
            mark = now
        analysis = analyze(batches, [RunConfig(name=run.state_machine, max_concurrency=0)])
        now = time.perf_counter()
        timings["join+summary"] = now - mark
        mark = now
        write_json_report(analysis, out / "report.json")
        now = time.perf_counter()
        timings["report.json"] = now - mark
        total = now - began
        cpu = time.process_time() - cpu_began
        for name, seconds in timings.items():
            print(f"  {name:<14} {seconds:6.3f} s")
        (summary,) = analysis.runs
        print(
            f"analysis to report.json: {total:.3f} s wall ({cpu:.3f} s CPU) for "
            f"{summary.invocations} calls ({summary.cold_starts} cold), goal <= "
            f"{GOAL_SECONDS:.1f} s: {'OK' if total <= GOAL_SECONDS else 'MISSED'}"
        )
        print(f"  load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        began = time.perf_counter()
        write_report(analysis, out)
        elapsed = time.perf_counter() - began
        print(f"separately (not in the goal): report.html + PNG charts {elapsed:.3f} s")
    return 0 if total <= GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
