"""Renders what the runner returns: report files, the table, where things are, the exit status.

The one place where the runner's result (``pclab.cloud``) meets the report (``pclab.report``):
DESIGN.md has the runner return its result and the CLI render it, so neither part imports the
other (tests/test_import_graph.py checks it). ``pclab run`` and ``pclab demo`` both end here;
kept out of cli.py so the command module stays a list of thin commands.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rich.console import Console

from pclab.cloud.run import RunResult
from pclab.report import write_report
from pclab.report.table import render_table

EXIT_INTERRUPTED = 130  # the shell's status for Ctrl-C


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
        result.timings["report"] = time.monotonic() - started
        render_table(result.analysis, console)
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
