"""When calls arrive, and how long they run: the workload the planner simulates.

- Generators: ``poisson`` (rate R/s: independent exponential gaps), ``uniform`` (evenly spaced at
  R/s), ``ramp`` (a Poisson stream whose rate rises linearly from 0 to R over the span).
- Counts per period (a CSV of ``second,calls``, CloudWatch's per-minute Invocations sums):
  :func:`spread_counts` places each period's calls within it, at random (``poisson``: the
  positions of a Poisson stream given its count) or evenly (``uniform``).
- :class:`Distribution`: a duration that is fixed, or sampled from measured values (a report's).

Everything random takes a numpy ``Generator`` made from the user's ``--seed``, so a plan repeats.
Imports nothing of pclab: the file readers are in :mod:`pclab.plan.inputs`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Spread = Literal["poisson", "uniform"]
Generator = Literal["poisson", "uniform", "ramp"]
SECONDS_PER_DAY = 86_400.0


class PlanInputError(ValueError):
    """Input the planner cannot use; the message is one line naming the problem and the fix."""


@dataclass(frozen=True)
class Arrivals:
    """Call arrival times in seconds since the start of the simulated span, sorted."""

    times: FloatArray
    span_s: float  # the simulated span (cost per day scales it to 24 h)
    clock_start_s: float = 0.0  # seconds after 00:00 UTC at t = 0 (for --schedule)
    source: dict[str, Any] = field(default_factory=dict)  # what it came from, for plan.json

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @property
    def mean_rate(self) -> float:
        return len(self) / self.span_s if self.span_s > 0 else 0.0


@dataclass(frozen=True)
class Distribution:
    """A duration in seconds: one fixed value, or sampled with replacement from measured ones."""

    values: FloatArray
    kind: Literal["fixed", "measured"] = "fixed"
    origin: str | None = None  # the report it was measured in

    @classmethod
    def fixed(cls, seconds: float) -> Distribution:
        return cls(np.array([float(seconds)]), "fixed")

    @classmethod
    def measured(cls, seconds: Sequence[float], origin: str) -> Distribution:
        if not seconds:
            raise PlanInputError(f"{origin}: no measured values to sample from")
        return cls(np.asarray(seconds, dtype=np.float64), "measured", origin)

    @property
    def fixed_value(self) -> float | None:
        return float(self.values[0]) if self.kind == "fixed" else None

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    def sample(self, rng: np.random.Generator, count: int) -> FloatArray:
        if self.kind == "fixed":
            return np.full(count, self.values[0])
        return rng.choice(self.values, size=count, replace=True)

    def describe(self) -> dict[str, Any]:
        """For plan.json: how it was given and its percentiles."""
        ordered = np.sort(self.values)
        return {
            "kind": self.kind,
            "origin": self.origin,
            "samples": int(ordered.shape[0]),
            "mean_s": float(ordered.mean()),
            "p50_s": float(np.percentile(ordered, 50)),
            "p99_s": float(np.percentile(ordered, 99)),
            "max_s": float(ordered[-1]),
        }


def _check_rate(rate: float, seconds: float) -> None:
    if not (math.isfinite(rate) and rate > 0):
        raise PlanInputError(f"--rate {rate}: give calls per second, more than 0")
    if not (math.isfinite(seconds) and seconds > 0):
        raise PlanInputError(f"span {seconds} s: give --seconds or --hours, more than 0")


def poisson(rate: float, seconds: float, rng: np.random.Generator) -> Arrivals:
    """A Poisson stream of ``rate`` calls a second over ``seconds``."""
    _check_rate(rate, seconds)
    expected = rate * seconds
    # exponential gaps, cumulated: draw a little more than needed, then cut at the span
    extra = int(expected + 6.0 * math.sqrt(expected) + 16)
    times = np.cumsum(rng.exponential(1.0 / rate, size=extra))
    while times[-1] < seconds:  # very unlikely: top up
        more = np.cumsum(rng.exponential(1.0 / rate, size=extra)) + times[-1]
        times = np.concatenate([times, more])
    times = times[: int(np.searchsorted(times, seconds, side="left"))]
    source = {"kind": "poisson", "rate_per_s": rate, "seconds": seconds}
    return Arrivals(times, seconds, 0.0, source)


def uniform(rate: float, seconds: float) -> Arrivals:
    """Calls evenly spaced, one every ``1/rate`` seconds from t = 0."""
    _check_rate(rate, seconds)
    count = math.ceil(rate * seconds - 1e-9)
    times = np.arange(count, dtype=np.float64) / rate
    source = {"kind": "uniform", "rate_per_s": rate, "seconds": seconds}
    return Arrivals(times, seconds, 0.0, source)


def ramp(rate: float, seconds: float, rng: np.random.Generator) -> Arrivals:
    """A Poisson stream whose rate rises linearly from 0 to ``rate`` over ``seconds``."""
    _check_rate(rate, seconds)
    count = int(rng.poisson(rate * seconds / 2.0))
    # density proportional to t on [0, S]: t = S * sqrt(U)
    times = np.sort(seconds * np.sqrt(rng.random(count)))
    source = {"kind": "ramp", "rate_per_s": rate, "seconds": seconds}
    return Arrivals(times, seconds, 0.0, source)


def generate(kind: Generator, rate: float, seconds: float, rng: np.random.Generator) -> Arrivals:
    """One of the generators by name (``--arrivals poisson|uniform|ramp``): ``pclab plan`` and
    ``pclab run``/``demo`` make the same arrivals from the same options and seed."""
    if kind == "uniform":
        return uniform(rate, seconds)
    if kind == "ramp":
        return ramp(rate, seconds, rng)
    return poisson(rate, seconds, rng)


def spread_counts(
    starts: FloatArray,
    counts: npt.NDArray[np.int64],
    period_s: float,
    spread: Spread,
    rng: np.random.Generator,
) -> FloatArray:
    """Arrival times for ``counts[i]`` calls in each period ``[starts[i], starts[i] + period_s)``.

    ``starts`` must be sorted and the periods must not overlap.
    """
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0)
    period_start = np.repeat(starts, counts)
    if spread == "uniform":
        # the k-th of c calls at k/c of the period
        first = np.repeat(np.cumsum(counts) - counts, counts)
        rank = np.arange(total) - first
        return period_start + rank * (period_s / np.repeat(counts, counts))
    # given its count, a Poisson stream's points are uniform in the period
    return np.sort(period_start + rng.random(total) * period_s)
