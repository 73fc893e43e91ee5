"""The PC level of one option over simulated time: requested (billed) and READY (usable).

A raise becomes READY ``allocation_delay_s`` after it is requested; a cut takes effect at once;
billing follows the requested level from the moment it is requested (rules and sources:
``pclab.lambda_model.autoscaling``). Schedules fire at their UTC clock times, target tracking once
a minute with that minute's ProvisionedConcurrencyUtilization datapoint.

Imports Lambda's rules and the planner's options only (no boto3, nothing of the local cloud):
the same rules run in simulated time here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pclab.lambda_model.autoscaling import TargetTracking
from pclab.plan.arrivals import SECONDS_PER_DAY
from pclab.plan.options import Option

if TYPE_CHECKING:
    from pclab.plan.simulate import Setup


class PcControl:
    """Requested and READY PC units of one option; the simulator calls ``advance`` at each of
    its control events and ``minute`` once a simulated minute."""

    def __init__(self, option: Option, setup: Setup, clock_start_s: float) -> None:
        self.option = option
        self.limits = setup.limits
        self.delay = setup.allocation_delay_s
        self.clock_start = clock_start_s
        self.tracking: TargetTracking | None = None
        if option.kind == "fixed":
            level = option.units or 0
        elif option.kind == "schedule":
            assert option.schedule is not None
            level = option.schedule.level(clock_start_s)
        else:
            self.tracking = option.tracking()
            level = option.min_capacity
        # the level at t = 0 was allocated before the span started
        self.requested = self.ready = level
        self.on_demand_cap = self.limits.on_demand_cap(level)
        self.pending: list[tuple[float, int]] = []  # (READY at, level), in request order
        self.unit_seconds = 0.0  # integral of the requested level: what PC billing counts
        self.lowest = self.highest = level
        self.changes = 0
        self._since = 0.0
        self._next_boundary = self._schedule_after(0.0)

    @property
    def next_change(self) -> float:
        """The next time the level changes by itself (an allocation or a scheduled action)."""
        ready_at = self.pending[0][0] if self.pending else math.inf
        return min(ready_at, self._next_boundary)

    def advance(self, now: float) -> None:
        while self.pending and self.pending[0][0] <= now:
            _, level = self.pending.pop(0)
            self.ready = min(level, self.requested)
        if self._next_boundary <= now:
            assert self.option.schedule is not None
            self.request(now, self.option.schedule.level(self.clock_start + now))
            self._next_boundary = self._schedule_after(now)

    def minute(self, now: float, datapoint: float | None) -> None:
        if self.tracking is None:
            return
        wanted = self.tracking.observe(datapoint, ready=self.ready, requested=self.requested)
        if wanted is not None:
            self.request(now, wanted)

    def request(self, now: float, level: int) -> None:
        if level == self.requested:
            return
        self.close(now)
        self.requested = level
        self.changes += 1
        self.lowest, self.highest = min(self.lowest, level), max(self.highest, level)
        self.on_demand_cap = self.limits.on_demand_cap(level)
        if level <= self.ready:
            self.ready = level  # a cut is immediate
            self.pending.clear()
        else:
            # earlier raises to a lower level still land first
            self.pending = [p for p in self.pending if p[1] < level]
            self.pending.append((now + self.delay, level))

    def close(self, now: float) -> None:
        """Bill the requested level up to ``now``."""
        self.unit_seconds += self.requested * max(0.0, now - self._since)
        self._since = max(self._since, now)

    def _schedule_after(self, now: float) -> float:
        """Simulated time of the first schedule boundary after ``now`` (inf without one)."""
        if self.option.kind != "schedule" or self.option.schedule is None:
            return math.inf
        edges = self.option.schedule.boundaries()
        if not edges:
            return math.inf
        clock = self.clock_start + now
        day = math.floor(clock / SECONDS_PER_DAY) * SECONDS_PER_DAY
        for offset in (0.0, SECONDS_PER_DAY, 2 * SECONDS_PER_DAY):
            for edge in edges:
                when = day + offset + edge - self.clock_start
                if when > now:
                    return when
        return math.inf
