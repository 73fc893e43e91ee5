"""Where parts that may not import each other meet: the planner's arrivals become the runner's
input, and the runner's result becomes the report.

- :func:`arrival_input`: ``--arrivals``/``--rate``/``--seconds``/``--arrivals-file`` of ``pclab
  run``/``demo`` made into items with ``startAfterSeconds``, by the planner's own generators and
  file readers (``pclab.plan``), so the same options and seed give ``pclab plan`` the same calls.
- :func:`finish_run`: renders what the runner returns: report files, the table, where things
  are, the exit status.

DESIGN.md has the runner return its result and the CLI render it, and the runner may not import
the planner, so neither part imports the other (tests/test_import_graph.py checks it). ``pclab
run`` and ``pclab demo`` both go through here; kept out of cli.py so the command module stays a
list of thin commands.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from pclab.cloud import input as run_input
from pclab.cloud.errors import RunnerError
from pclab.cloud.run import RunResult
from pclab.report import write_report
from pclab.report.table import render_table

EXIT_INTERRUPTED = 130  # the shell's status for Ctrl-C
MAX_WORK_MS = 60_000.0  # the template's FunctionDurationSeconds range (0 to 60 s)


@dataclass(frozen=True)
class ArrivalOptions:
    """What the user asked of ``pclab run``/``demo``; every field None: the original burst."""

    kind: str | None = None  # poisson | uniform | ramp | file
    rate: float | None = None  # calls per second
    seconds: float | None = None  # span of the generated arrivals
    file: Path | None = None  # CSV second,calls or CloudWatch GetMetricData JSON
    seed: int = 0
    duration_ms: float | None = None  # each item's durationSeconds (else the template's)

    @property
    def asked(self) -> bool:
        return self.kind is not None or self.file is not None

    def origin(self) -> str:
        if self.file is not None:
            return f"--arrivals-file {self.file}"
        return f"--arrivals {self.kind} --rate {self.rate:g} --seconds {self.seconds:g}"


def _check_arrivals(options: ArrivalOptions) -> None:
    """One :class:`RunnerError` line naming the option and the fix, before anything starts."""
    generated = options.file is None
    if not options.asked:
        given = [flag for flag, value in (("--rate", options.rate), ("--seconds", options.seconds),
                 ("--duration-ms", options.duration_ms)) if value is not None]  # fmt: skip
        if given:
            raise RunnerError(
                f"{'/'.join(given)} shape arrivals: add --arrivals poisson|uniform|ramp, or "
                "--arrivals-file FILE"
            )
        return
    if options.kind == "file" and options.file is None:
        raise RunnerError(
            "--arrivals file needs --arrivals-file FILE (a CSV of second,calls, or the JSON of "
            "`aws cloudwatch get-metric-data` for Invocations)"
        )
    if options.kind == "ramp" and not generated:
        raise RunnerError(
            "--arrivals ramp generates calls; with --arrivals-file use poisson or uniform"
        )
    if generated:
        if options.rate is None or options.seconds is None:
            raise RunnerError(
                f"--arrivals {options.kind} needs --rate R (calls per second) and --seconds S "
                "(the span), e.g. --rate 10 --seconds 60"
            )
        if not (math.isfinite(options.rate) and options.rate > 0):
            raise RunnerError(f"--rate {options.rate:g}: give calls per second, more than 0")
        limit = run_input.RUN_SPAN_LIMIT_S
        if not (math.isfinite(options.seconds) and 0 < options.seconds <= limit):
            raise RunnerError(
                f"--seconds {options.seconds:g}: give more than 0 and at most {limit} (24 h; "
                "longer than 240 s runs as one execution per 240 s window)"
            )
    elif options.rate is not None or options.seconds is not None:
        raise RunnerError("--rate/--seconds generate calls; --arrivals-file gives them: use one")
    duration = options.duration_ms
    if duration is not None and not (math.isfinite(duration) and 0 <= duration <= MAX_WORK_MS):
        raise RunnerError(
            f"--duration-ms {duration:g}: give 0 to {MAX_WORK_MS:.0f} (the template's "
            "FunctionDurationSeconds range)"
        )
    if options.seed < 0:
        raise RunnerError(f"--seed {options.seed}: use 0 or more")


def arrival_input(options: ArrivalOptions) -> run_input.ExecutionInput | None:
    """The items for arrival-shaped load, or None when none was asked (the original burst).

    The planner's arrivals (seeded as ``pclab plan --seed`` seeds them) are cut to whole seconds,
    as Step Functions' Wait counts: the calls of one second start together.
    """
    _check_arrivals(options)
    if not options.asked:
        return None
    import numpy as np

    from pclab.plan import arrivals, inputs

    rng = np.random.default_rng([options.seed, 1])
    try:
        if options.file is not None:
            spread: arrivals.Spread = "uniform" if options.kind == "uniform" else "poisson"
            made = inputs.read_counts(options.file).arrivals(spread, rng)
        else:
            assert options.rate is not None and options.seconds is not None
            kind: arrivals.Generator = options.kind  # type: ignore[assignment]
            made = arrivals.generate(kind, options.rate, options.seconds, rng)
    except arrivals.PlanInputError as error:
        raise RunnerError(str(error)) from None
    offsets = np.floor(made.times).astype(np.int64).tolist()
    duration_s = None if options.duration_ms is None else options.duration_ms / 1000.0
    return run_input.with_arrivals(offsets, options.origin(), duration_s)


def http_client_line(client: dict[str, Any]) -> str:
    """One line of what the HTTP client saw (``pclab run --url``)."""
    latency = client["latency_s"]
    statuses = ", ".join(f"{code}: {count}" for code, count in client["statuses"].items())

    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value * 1000:.0f} ms"

    return (
        f"HTTP client (locust) {client['requests']} requests to {client['url']}: {statuses}; "
        f"latency p50 {ms(latency['p50'])}, p99 {ms(latency['p99'])}, max {ms(latency['max'])} "
        "(not joined to the Lambda calls one to one: see docs/execute.md)"
    )


def finish_run(
    result: RunResult, console: Console, *, charts: bool, timings_file: Path | None = None
) -> int:
    """Write the report of ``result``, print the table, the files, the timings and every problem
    (one line each, on stderr); return the exit status (0, 1 on a problem, 130 interrupted).

    ``timings_file`` (the demo's timings.json, read by bench/bench_demo.py) gets where the time
    went, the report included.
    """
    problems = list(result.problems)
    files = list(result.raw_files)
    if result.analysis is not None:
        started = time.monotonic()
        try:
            written = write_report(result.analysis, result.out_dir, charts=charts)
        except OSError as error:
            problems.append(f"--out {result.out_dir}: cannot write the report ({error})")
        else:
            files = [written.json, *([written.html] if written.html else []), *written.charts]
            files += result.raw_files
            if result.report_extra:
                report = json.loads(written.json.read_text(encoding="utf-8"))
                report.update(result.report_extra)
                written.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        result.timings["report"] = time.monotonic() - started
        render_table(result.analysis, console)
        client = result.report_extra.get("http_client")
        if client:
            console.print(http_client_line(client))
    if files:
        console.print(
            f"Wrote {len(files)} files under {result.out_dir}/ (report.json, report.html, raw/ ...)"
        )
    if timings_file is not None:
        timings_file.parent.mkdir(parents=True, exist_ok=True)
        timings_file.write_text(json.dumps(result.timings, indent=1) + "\n", encoding="utf-8")
    if result.timings:
        steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in result.timings.items())
        console.print(f"Time: {steps}")
    for problem in problems:
        print(f"pclab: error: {problem}", file=sys.stderr)
    if result.interrupted:
        return EXIT_INTERRUPTED
    return 1 if problems else 0
