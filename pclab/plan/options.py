"""The provisioned-concurrency options a plan compares, and how each sets PC over time.

- a fixed level (``--pc N``): N units all the time, allocated before the span starts;
- a schedule (``--schedule "08:00-20:00=50,else=5"``): Application Auto Scaling scheduled actions
  at those UTC clock times; the level at t = 0 is allocated before the span starts, later raises
  wait for the allocation (``pclab.lambda_model.autoscaling``);
- target tracking (``--target-utilization 0.7[:MIN-MAX]``): Application Auto Scaling's policy on
  ProvisionedConcurrencyUtilization; it starts at MIN (default 1) and may reach MAX (default: the
  most PC the limits allow).

Imports the planner's own errors and Lambda's rules only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

from pclab.lambda_model.autoscaling import TargetTracking
from pclab.lambda_model.concurrency import ConcurrencyConfigError, FunctionLimits
from pclab.plan.arrivals import SECONDS_PER_DAY, PlanInputError

Kind = Literal["fixed", "schedule", "target-tracking"]
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def _clock(text: str, spec: str) -> int:
    match = _CLOCK.match(text.strip())
    hours, minutes = (int(match.group(1)), int(match.group(2))) if match else (99, 99)
    if not match or hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise PlanInputError(
            f"--schedule {spec!r}: {text.strip()!r} is not a time; write HH:MM (UTC), "
            "e.g. 08:00-20:00=50,else=5"
        )
    return hours * 3600 + minutes * 60


def _units(text: str, spec: str, flag: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise PlanInputError(f"{flag} {spec!r}: {text.strip()!r} is not a whole number") from None
    if value < 0:
        raise PlanInputError(f"{flag} {spec!r}: {value} units; use 0 or more")
    return value


@dataclass(frozen=True)
class Schedule:
    """Levels by UTC time of day: ``ranges`` of [start, end) seconds after midnight, else
    ``default``. A range may wrap midnight (``20:00-08:00``)."""

    spec: str
    ranges: tuple[tuple[int, int, int], ...]  # (start_s, end_s, units)
    default: int = 0

    @classmethod
    def parse(cls, spec: str) -> Schedule:
        ranges: list[tuple[int, int, int]] = []
        default: int | None = None
        for part in spec.split(","):
            if "=" not in part:
                raise PlanInputError(
                    f"--schedule {spec!r}: {part.strip()!r} has no '='; write "
                    "HH:MM-HH:MM=N entries and else=N, e.g. 08:00-20:00=50,else=5"
                )
            when, units_text = part.split("=", 1)
            units = _units(units_text, spec, "--schedule")
            if when.strip().lower() == "else":
                if default is not None:
                    raise PlanInputError(f"--schedule {spec!r}: 'else' given twice")
                default = units
                continue
            if "-" not in when:
                raise PlanInputError(
                    f"--schedule {spec!r}: {when.strip()!r} is not a range; write HH:MM-HH:MM"
                )
            start_text, end_text = when.split("-", 1)
            start, end = _clock(start_text, spec), _clock(end_text, spec)
            if start == end:
                raise PlanInputError(f"--schedule {spec!r}: {when.strip()!r} is empty")
            ranges.append((start, end % int(SECONDS_PER_DAY), units))
        schedule = cls(spec, tuple(ranges), default or 0)
        for second in range(0, int(SECONDS_PER_DAY), 60):  # overlaps, minute by minute
            if sum(1 for r in schedule.ranges if _inside(second, r)) > 1:
                raise PlanInputError(
                    f"--schedule {spec!r}: ranges overlap at {second // 3600:02d}:"
                    f"{second % 3600 // 60:02d}; give each time of day one level"
                )
        return schedule

    def level(self, clock_s: float) -> int:
        """Units at ``clock_s`` seconds after midnight UTC (any day)."""
        second = clock_s % SECONDS_PER_DAY
        for entry in self.ranges:
            if _inside(second, entry):
                return entry[2]
        return self.default

    def boundaries(self) -> list[int]:
        """Seconds after midnight where the level may change, sorted."""
        return sorted({edge for start, end, _ in self.ranges for edge in (start, end)})

    def levels(self) -> list[int]:
        return [units for _, _, units in self.ranges] + [self.default]


def _inside(second: float, entry: tuple[int, int, int]) -> bool:
    start, end, _ = entry
    if start < end:
        return start <= second < end
    return second >= start or second < end  # wraps midnight


@dataclass(frozen=True)
class Option:
    """One way to configure PC, as compared in the plan."""

    name: str
    kind: Kind
    units: int | None = None  # fixed
    schedule: Schedule | None = None
    target: float | None = None  # target tracking
    min_capacity: int = 1
    max_capacity: int = 0
    policy: str | None = field(default=None)  # the schedule or policy as the user wrote it

    def check(self, limits: FunctionLimits) -> None:
        """Raise PlanInputError for a level Lambda would refuse."""
        levels = {
            "fixed": [self.units or 0],
            "schedule": self.schedule.levels() if self.schedule else [],
            "target-tracking": [self.max_capacity],
        }[self.kind]
        for units in levels:
            try:
                limits.check_provisioned(units)
            except ConcurrencyConfigError as error:
                raise PlanInputError(f"{self.name}: {error}") from None

    def tracking(self) -> TargetTracking:
        assert self.target is not None
        return TargetTracking(self.target, self.min_capacity, self.max_capacity)


def fixed(units: int) -> Option:
    return Option(name=f"PC {units}", kind="fixed", units=units)


def scheduled(spec: str) -> Option:
    schedule = Schedule.parse(spec)
    return Option(name=f"schedule {spec}", kind="schedule", schedule=schedule, policy=spec)


def target_tracking(spec: str, limits: FunctionLimits) -> Option:
    """``TARGET`` or ``TARGET:MIN-MAX``, e.g. ``0.7`` or ``0.7:5-200``."""
    target_text, _, bounds = spec.partition(":")
    try:
        target = float(target_text)
    except ValueError:
        target = math.nan
    if not 0.0 < target <= 1.0:
        raise PlanInputError(
            f"--target-utilization {spec!r}: give a utilization in (0, 1], e.g. 0.7 "
            "(optionally 0.7:MIN-MAX)"
        )
    low, high = 1, limits.max_provisioned
    if bounds:
        low_text, dash, high_text = bounds.partition("-")
        if not dash:
            raise PlanInputError(f"--target-utilization {spec!r}: write the bounds as MIN-MAX")
        low = _units(low_text, spec, "--target-utilization")
        high = _units(high_text, spec, "--target-utilization")
    if not 1 <= low <= high:
        raise PlanInputError(
            f"--target-utilization {spec!r}: capacity {low}-{high}; use 1 <= MIN <= MAX"
        )
    return Option(
        name=f"target {spec}",
        kind="target-tracking",
        target=target,
        min_capacity=low,
        max_capacity=high,
        policy=spec,
    )
