"""Benchmark: X-Ray and Logs Insights queries through a real local cloud over HTTP (goal: 1 s).

The data of ``bench_queries.py`` (10,000 Step Functions -> Lambda traces of 6 documents each;
100,000 Lambda REPORT lines in 200 streams), written the way the local cloud writes it (the
telemetry sink, into moto's stores), then read with boto3 as a user would:

1. GetTraceSummaries with bench_queries' filter expression, twice: each trace's view was built
   as its segments arrived (the writes pay for it), the first call computes trace-level values
   (root, annotations ...) that the second finds cached;
2. GetServiceGraph over the window;
3. StartQuery + GetQueryResults with AWS's cold-start query.

One full garbage collection after the writes is timed on its own line, and each query starts
after one (untimed): the stores hold ~2.5 million objects, a full collection of them takes
0.5-0.7 s, and CPython runs one whenever the objects made since the last one pass a quarter of
those, so it lands in whichever query (or invocation) allocates at that moment: without this the
same collection moved between GetServiceGraph and the Insights query from run to run.

``bench_queries.py`` times the engines alone; the difference is the wiring (reading moto's
stores, HTTP, JSON). Wall and CPU time of this process are printed with the load average.
"""

from __future__ import annotations

import gc
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import boto3  # noqa: E402
from bench_queries import (  # noqa: E402
    FILTER,
    FUNCTION,
    GOAL_SECONDS,
    INSIGHTS_GOAL,
    REPORT_LINES,
    TRACES,
    report_events,
    synthetic_trace,
)

from pclab.localcloud.moto import MotoTelemetrySink  # noqa: E402
from pclab.localcloud.server import LocalCloud, free_port  # noqa: E402


def timed(label: str, work: Callable[[], Any], goal: float | None) -> Any:
    if goal is not None:
        gc.collect()  # a query is timed without the collector's debt from before it (see above)
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    verdict = ""
    if goal is not None:
        verdict = f"  goal {goal:g} s {'met' if wall <= goal else 'MISSED'}"
    print(f"{label:<44} wall {wall:6.3f} s  cpu {cpu:6.3f} s{verdict}", flush=True)
    return result


def main() -> int:
    rng = random.Random(7)
    now = time.time()
    local = LocalCloud(free_port(), with_execution_layer=False)
    local.start()
    try:
        sink = MotoTelemetrySink()
        documents = [
            json.dumps(d) for i in range(TRACES) for d in synthetic_trace(rng, now - 3600 + i * 0.3)
        ]
        timed(
            f"write {TRACES:,} traces ({len(documents):,} documents)",
            lambda: sink.put_trace_segments(documents),
            None,
        )
        by_stream: dict[str, list[tuple[int, str]]] = {}
        events = report_events(rng, REPORT_LINES)
        for event in events:
            by_stream.setdefault(event["logStream"], []).append(
                (event["timestamp"], event["message"])
            )
        group = f"/aws/lambda/{FUNCTION}"
        timed(
            f"write {REPORT_LINES:,} REPORT lines",
            lambda: [sink.put_log_events(group, s, e) for s, e in by_stream.items()],
            None,
        )
        timed("full garbage collection after the writes", gc.collect, None)
        client = {
            service: boto3.client(
                service,
                endpoint_url=local.url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            for service in ("xray", "logs")
        }
        window = {"StartTime": now - 3700, "EndTime": now}
        for label in ("first call", "second call"):
            found = timed(
                f"GetTraceSummaries, {label}",
                lambda: client["xray"].get_trace_summaries(**window, FilterExpression=FILTER),
                GOAL_SECONDS,
            )
        print(
            f"  {found['TracesProcessedCount']:,} traces in the window, "
            f"{len(found['TraceSummaries'])} on the first page"
        )
        graph = timed(
            "GetServiceGraph", lambda: client["xray"].get_service_graph(**window), GOAL_SECONDS
        )
        print(f"  {len(graph['Services'])} services")
        first, last = events[0]["timestamp"] // 1000, events[-1]["timestamp"] // 1000

        def insights() -> Any:
            query = client["logs"].start_query(
                logGroupName=group, startTime=first, endTime=last, queryString=INSIGHTS_GOAL
            )
            return client["logs"].get_query_results(queryId=query["queryId"])

        result = timed("StartQuery + GetQueryResults (cold starts)", insights, GOAL_SECONDS)
        print(f"  {result['results']}")
    finally:
        local.stop()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
