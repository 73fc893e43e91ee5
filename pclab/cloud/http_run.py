"""``pclab run --url URL [--function NAME[:QUALIFIER]]``: HTTP load on an endpoint, then the
function's own sources.

The requests are made by locust in a process of its own (:mod:`pclab.cloud.http_load`); each
one's latency and status as the client saw it is kept (``raw/<run>/http-requests.json`` and
the report's ``http_client``). With ``--function``, the function behind the URL is measured
from the Lambda side too: its REPORT lines (calls, cold starts by Init Duration, spillover on a
PC alias) and CloudWatch metrics over the run's window, as for any run.

What is NOT joined, and why: API Gateway's ``apigw-requestid`` is not the Lambda request id
(the REPORT lines name only the latter), and HTTP APIs pass no X-Ray trace to the function, so
a client request and a Lambda call are tied by nothing but time. The report therefore shows the
two views side by side (client: latency and status per request; Lambda: per call), counted
over the same window, never matched one to one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from pclab.analysis.metrics_check import with_metrics
from pclab.analysis.model import RunConfig
from pclab.analysis.pipeline import analyze
from pclab.analysis.stats import latency_stats
from pclab.cloud import collect, collect_metrics
from pclab.cloud.aws import Clients
from pclab.cloud.errors import RunnerError
from pclab.cloud.input import ARRIVAL_LEAD_S, ExecutionInput, arrival_zero
from pclab.cloud.run import RunResult, write_raw
from pclab.cloud.stack import Stack, Target, function_facts

CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class UrlOptions:
    url: str
    run_input: ExecutionInput
    out_dir: Path
    target: Target | None = None  # the function behind the URL (--function), if named
    method: str = "GET"
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 30.0
    late_sources: collect.PollPolicy = field(default_factory=collect.PollPolicy)


def check_url(url: str) -> tuple[str, int]:
    """(host, port) of a URL that accepts connections, without sending it a request (a request
    would warm the function before the run); one :class:`RunnerError` line otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RunnerError(
            f"--url {url}: give an http:// or https:// URL, e.g. the local cloud's "
            "http://localhost:4577/_aws/execute-api/<api-id>/<path>"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise RunnerError(
            f"--url {url} does not answer ({reason} at {parts.hostname}:{port}): check the URL "
            "(the stack's outputs), and that the endpoint (or `pclab local-cloud start`) is up"
        ) from None
    return parts.hostname, port


def offsets_of(run_input: ExecutionInput) -> list[int]:
    """Each item's whole-second arrival offset (0 for a burst)."""
    found = []
    for item in run_input.items:
        offset = item.get("startAfterSeconds")
        found.append(offset if isinstance(offset, int) and not isinstance(offset, bool) else 0)
    return found


def send(options: UrlOptions, console: Console) -> list[dict[str, Any]]:
    """Run the locust process; its records, in request order."""
    offsets = offsets_of(options.run_input)
    zero = float(arrival_zero(time.time()))
    spec = {
        "url": options.url,
        "method": options.method,
        "body": options.body,
        "headers": options.headers,
        "offsets": offsets,
        "zero": zero,
        "timeout": options.timeout_s,
    }
    with tempfile.TemporaryDirectory(prefix="pclab-http-") as folder:
        spec_file, out_file = Path(folder, "spec.json"), Path(folder, "out.json")
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        limit = ARRIVAL_LEAD_S + max(offsets, default=0) + options.timeout_s + 60.0
        with console.status(f"{len(offsets)} requests to {options.url} (locust)"):
            done = subprocess.run(
                [sys.executable, "-m", "pclab.cloud.http_load", str(spec_file), str(out_file)],
                capture_output=True,
                text=True,
                timeout=limit,
                check=False,
            )
        if done.returncode != 0 or not out_file.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RunnerError(
                f"the HTTP load (locust) failed: {tail[0]}; is locust installed (pip install "
                "'pclab[load]')?"
            )
        records: list[dict[str, Any]] = json.loads(out_file.read_text("utf-8"))["requests"]
    return sorted(records, key=lambda r: (r.get("start") or 0.0, r.get("index") or 0))


def client_view(url: str, records: list[dict[str, Any]], asked: int) -> dict[str, Any]:
    """What the client saw, for report.json's ``http_client`` and the console."""
    statuses = Counter(str(r["status"]) if r.get("status") else "no answer" for r in records)
    latency = latency_stats((r["latency_ms"] or 0.0) / 1000.0 for r in records if r.get("status"))
    starts = [r["start"] for r in records if r.get("start")]
    ends = [r["end"] for r in records if r.get("end")]
    return {
        "url": url,
        "tool": "locust",
        "asked": asked,
        "requests": len(records),
        "statuses": dict(sorted(statuses.items())),
        "errors": sum(1 for r in records if r.get("error") or (r.get("status") or 0) >= 500),
        "latency_s": {
            "count": latency.count,
            "p50": latency.p50,
            "p90": latency.p90,
            "p99": latency.p99,
            "max": latency.max,
            "mean": latency.mean,
        },
        "first_start": min(starts) if starts else None,
        "last_end": max(ends) if ends else None,
        "joined_to_lambda": False,
        "note": "client requests and Lambda calls are not matched one to one: API Gateway's "
        "apigw-requestid is not Lambda's request id and HTTP APIs pass no X-Ray trace",
    }


def run_url(options: UrlOptions, console: Console, clients: Clients | None) -> RunResult:
    """Send the load, then (with a target) read the function's REPORT lines and metrics."""
    check_url(options.url)
    target = options.target
    facts = function_facts(clients, target) if clients and target else None
    started = time.monotonic()
    records = send(options, console)
    name = target.run_name if target else (urlsplit(options.url).hostname or "url")
    result = RunResult(stack=Stack(name, "", {}, {}, ()), executions=[], out_dir=options.out_dir)
    result.timings["requests"] = time.monotonic() - started
    view = client_view(options.url, records, len(options.run_input.items))
    result.report_extra["http_client"] = view
    raw: dict[str, Any] = {
        f"raw/{name}/http-requests.json": {"url": options.url, "requests": records}
    }
    answered = [r for r in records if r.get("status")]
    if not answered:
        result.problems.append(
            f"--url {options.url}: none of the {len(records)} requests got an answer "
            f"({records[0]['error'] if records else 'no request made'}); check the URL"
        )
    if not (clients and target and facts and view["first_start"]):
        result.raw_files.extend(write_raw(options.out_dir, raw))
        result.analysis = analyze([], [])
        return result
    step = time.monotonic()
    window = (float(view["first_start"]), float(view["last_end"]))
    logs = collect.logs(clients, target, facts, window, set(), options.late_sources)
    raw.update(logs.raw)
    metrics = collect_metrics.metrics(
        clients, target, window, len(answered) or None, options.late_sources
    )
    raw.update(metrics.raw)
    result.timings["collection"] = time.monotonic() - step
    result.raw_files.extend(write_raw(options.out_dir, raw))
    config = RunConfig(
        name=name,
        function_name=target.function_name,
        qualifier=target.qualifier,
        memory_mb=facts.memory_mb,
        provisioned_concurrency=facts.provisioned_concurrency or 0,
        items=len(options.run_input.items),
        max_concurrency=None,
        inline_map=False,
    )
    result.analysis = with_metrics(analyze([logs.batch], [config]), [metrics.view])
    return result
