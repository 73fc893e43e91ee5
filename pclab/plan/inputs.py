"""The planner's input files: a CSV of calls per second, CloudWatch Invocations, a pclab report.

- CSV ``second,calls`` (header optional): calls in each second. Seconds may be offsets or epoch
  seconds; rows may be sparse (a missing second had no calls).
- ``aws cloudwatch get-metric-data`` output for the Lambda metric Invocations (Sum):
  ``MetricDataResults[].Timestamps/Values``, one sum per period (1 minute for Lambda metrics,
  FACTS.md "Lambda metrics"); timestamps ISO 8601 (AWS CLI) or epoch seconds, newest first by
  default.
- a pclab ``report.json`` (schema ``pclab.report/1``, docs/report-json.md): the calls' start
  times of one run, and the measured handler durations and init durations of all runs.

Each reader raises :class:`PlanInputError` with one line naming the file, what is wrong and the
fix. Pure: reads files, imports nothing of pclab but the planner's own arrivals.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from pclab.plan.arrivals import (
    SECONDS_PER_DAY,
    Arrivals,
    Distribution,
    FloatArray,
    PlanInputError,
    Spread,
    spread_counts,
)

REPORT_SCHEMA = "pclab.report/1"
EPOCH_THRESHOLD = 1e9  # seconds: larger values are epoch times (2001 onwards), not offsets


@dataclass(frozen=True)
class PeriodCounts:
    """Calls per period: ``counts[i]`` in ``[starts[i], starts[i] + period_s)`` since t = 0."""

    starts: FloatArray
    counts: np.ndarray[Any, np.dtype[np.int64]]
    period_s: float
    clock_start_s: float  # seconds after 00:00 UTC at t = 0
    source: dict[str, Any]

    def arrivals(self, spread: Spread, rng: np.random.Generator) -> Arrivals:
        times = spread_counts(self.starts, self.counts, self.period_s, spread, rng)
        span = float(self.starts[-1] + self.period_s)
        return Arrivals(times, span, self.clock_start_s, {**self.source, "spread": spread})


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanInputError(f"{path}: no such file (the {what})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PlanInputError(f"{path}: cannot read the {what} ({error})") from None


def _number(text: str, path: Path, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PlanInputError(
            f"{path} line {line}: {column} {text.strip()!r} is not a number; "
            "write rows of second,calls such as 0,12"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise PlanInputError(f"{path} line {line}: {column} {text.strip()} must be 0 or more")
    return value


def _period_counts(
    seconds: list[float], counts: list[float], period: float, source: dict[str, Any]
) -> PeriodCounts:
    order = np.argsort(np.asarray(seconds))
    starts = np.asarray(seconds, dtype=np.float64)[order]
    values = np.rint(np.asarray(counts, dtype=np.float64)[order]).astype(np.int64)
    # the same period twice (two CSV rows for one second): add them up
    starts, where = np.unique(starts, return_inverse=True)
    values = np.bincount(where, weights=values).astype(np.int64)
    first = float(starts[0])
    clock = first % SECONDS_PER_DAY if first >= EPOCH_THRESHOLD else 0.0
    source = {**source, "periods": int(starts.shape[0]), "calls": int(values.sum())}
    return PeriodCounts(starts - first, values, period, clock, source)


def read_csv_counts(path: Path) -> PeriodCounts:
    """A CSV of ``second,calls`` rows (calls in that second)."""
    text = _read_text(path, "arrivals file")
    seconds: list[float] = []
    counts: list[float] = []
    for line, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if line == 1 and row[0].strip().lower() == "second":
            continue  # the header
        if len(row) != 2:
            raise PlanInputError(
                f"{path} line {line}: expected 2 columns (second,calls), found {len(row)}"
            )
        seconds.append(_number(row[0], path, line, "second"))
        calls = _number(row[1], path, line, "calls")
        if not calls.is_integer():
            raise PlanInputError(
                f"{path} line {line}: calls {row[1].strip()} is not a whole number"
            )
        counts.append(calls)
    if not seconds:
        raise PlanInputError(f"{path}: no rows; write second,calls rows such as 0,12")
    return _period_counts(seconds, counts, 1.0, {"kind": "csv", "file": str(path)})


def _timestamp(value: Any, path: Path) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise PlanInputError(f"{path}: timestamp {value!r} is neither ISO 8601 nor epoch seconds")


def read_cloudwatch(path: Path) -> PeriodCounts:
    """``aws cloudwatch get-metric-data`` output holding the Invocations sums."""
    try:
        document = json.loads(_read_text(path, "CloudWatch file"))
    except json.JSONDecodeError as error:
        raise PlanInputError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    results = document.get("MetricDataResults") if isinstance(document, dict) else None
    if not isinstance(results, list) or not results:
        raise PlanInputError(
            f"{path}: no MetricDataResults; save `aws cloudwatch get-metric-data` output "
            "for the metric Invocations (statistic Sum)"
        )
    chosen = [r for r in results if isinstance(r, dict)]
    if len(chosen) > 1:
        named = [
            r for r in chosen if "invocation" in f"{r.get('Label', '')} {r.get('Id', '')}".lower()
        ]
        if len(named) != 1:
            labels = ", ".join(str(r.get("Label") or r.get("Id")) for r in chosen)
            raise PlanInputError(
                f"{path}: {len(chosen)} results ({labels}); keep only the Invocations one"
            )
        chosen = named
    result = chosen[0]
    stamps, values = result.get("Timestamps"), result.get("Values")
    if not isinstance(stamps, list) or not isinstance(values, list) or len(stamps) != len(values):
        raise PlanInputError(f"{path}: Timestamps and Values must be lists of the same length")
    if not stamps:
        raise PlanInputError(f"{path}: the Invocations result has no datapoints")
    seconds = [_timestamp(s, path) for s in stamps]
    counts: list[float] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise PlanInputError(f"{path}: value {value!r} is not a count of invocations")
        counts.append(float(value))
    ordered = sorted(set(seconds))
    gaps = [b - a for a, b in itertools.pairwise(ordered) if b > a]
    period = min(gaps) if gaps else 60.0  # one datapoint: Lambda's 1-minute period
    label = str(result.get("Label") or result.get("Id") or "Invocations")
    source = {"kind": "cloudwatch", "file": str(path), "label": label, "period_s": period}
    return _period_counts(seconds, counts, period, source)


def read_counts(path: Path) -> PeriodCounts:
    """``--arrivals-file``: CloudWatch JSON if the file starts with ``{``, else a CSV."""
    start = path.read_bytes()[:64].lstrip() if path.is_file() else b""
    return read_cloudwatch(path) if start.startswith(b"{") else read_csv_counts(path)


@dataclass(frozen=True)
class ReportWorkload:
    """What a pclab report measured: one run's arrivals, and durations and inits of all runs."""

    arrivals: Arrivals
    durations: Distribution
    inits: Distribution | None  # None when no call in the report was cold
    run: str


def _start(call: dict[str, Any]) -> float | None:
    for key in ("scheduled_at", "started_at", "handler_start"):
        value = call.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def read_report(path: Path, run: str | None = None, *, own_only: bool = False) -> ReportWorkload:
    """A pclab report.json: arrivals of ``run`` (default: the run with the most calls), and the
    durations and inits of every run (``own_only``: of that run alone, e.g. when runs ran side by
    side and the machine's load made one run's inits slower)."""
    try:
        report = json.loads(_read_text(path, "report"))
    except json.JSONDecodeError as error:
        raise PlanInputError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(report, dict) or report.get("schema") != REPORT_SCHEMA:
        raise PlanInputError(
            f"{path}: not a pclab report (schema {REPORT_SCHEMA}); give the report.json "
            "that pclab run or pclab analyze wrote"
        )
    calls = [c for c in report.get("invocations") or [] if isinstance(c, dict)]
    names = [str(r.get("name")) for r in report.get("runs") or [] if isinstance(r, dict)]
    if not calls or not names:
        raise PlanInputError(f"{path}: the report has no calls to plan from")
    if run is None:
        run = max(names, key=lambda name: sum(1 for c in calls if c.get("run") == name))
    elif run not in names:
        raise PlanInputError(f"{path}: no run {run!r}; the runs are {', '.join(names)}")
    starts = sorted(s for s in (_start(c) for c in calls if c.get("run") == run) if s is not None)
    if not starts:
        raise PlanInputError(f"{path}: run {run!r} has no call with a start time")
    if own_only:
        calls = [c for c in calls if c.get("run") == run]
    durations = [
        float(c["handler_latency_s"])
        for c in calls
        if isinstance(c.get("handler_latency_s"), (int, float)) and c["handler_latency_s"] >= 0
    ]
    if not durations:
        raise PlanInputError(f"{path}: no call has a handler duration (handler_latency_s)")
    inits = [
        float(c["init_duration_ms"]) / 1000.0
        for c in calls
        if c.get("cold") is True and isinstance(c.get("init_duration_ms"), (int, float))
    ]
    first = starts[0]
    times = np.asarray(starts, dtype=np.float64) - first
    longest = max(durations)
    span = max(float(times[-1]) + longest, 1.0)
    source = {"kind": "report", "file": str(path), "run": run, "calls": len(starts)}
    arrivals = Arrivals(times, span, first % SECONDS_PER_DAY, source)
    origin = f"{path} ({run if own_only else 'all runs'})"
    return ReportWorkload(
        arrivals=arrivals,
        durations=Distribution.measured(durations, origin),
        inits=Distribution.measured(inits, origin) if inits else None,
        run=run,
    )
