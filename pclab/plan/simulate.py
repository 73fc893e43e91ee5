"""The discrete-event simulation of one PC option: Lambda's concurrency model in simulated time.

Each call, in arrival order:
1. a free provisioned environment serves it at once (PC environments are always warm);
2. else (spillover, or no PC) it needs an on-demand slot: above the cap (reserved concurrency,
   else the account limit, minus the PC configured) it is throttled;
3. it reuses an on-demand environment: one freed since the previous call if any (the earliest of
   them), else the most recently freed idle one (environments idle longer than the idle expiry
   are gone first); else a new one starts, if the scaling rate allows (else throttled), and the
   caller waits its init (past the 10 s init limit: 10 s plus the init again);
4. a throttled call is counted, and with ``retries`` tried again after Step Functions' backoff
   (1 s doubling up to 16 s, full jitter: the sample's Retry) until it runs or runs out of tries.

PC changes at control events (schedule boundaries, a target-tracking decision each minute, an
allocation becoming READY) between calls. The rules come from ``pclab.lambda_model``; this module
only orders events. Latency is init waited (plus retry waits) plus duration.

WHY this shape (bench/bench_plan.py): the per-call loop is the whole cost, so it holds its state
in locals, keeps end times in heaps, idle environments in a deque (most recently freed on the
right, oldest on the left for expiry), swaps a freed environment's end for the new call's in one
``heapreplace`` (the common case under steady load), and writes nothing for calls served by PC
(category 0 of a zero-filled bytearray); percentiles and billing are numpy over whole arrays
afterwards. Before this shape the loop's own bytecode was 70 % of the time (cProfile).

Imports ``pclab.lambda_model`` and the planner's own modules; no boto3, nothing of the local cloud
(which will drive the same rules with the wall clock).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from heapq import heappop, heappush, heapreplace
from itertools import repeat

import numpy as np

from pclab.lambda_model.concurrency import INIT_TIMEOUT_S, FunctionLimits, ScalingRate
from pclab.plan.arrivals import Arrivals, Distribution, FloatArray
from pclab.plan.control import PcControl
from pclab.plan.options import Option
from pclab.plan.results import SimResult, summarise

RETRY_INTERVAL_S, RETRY_BACKOFF, RETRY_MAX_DELAY_S = 1.0, 2.0, 16.0  # the sample's Retry
SERIES_STEPS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0)
MAX_SERIES_POINTS = 1500
THROTTLED = 3  # call categories: 0 PC, 1 on-demand warm, 2 on-demand cold, 3 throttled for good

Call = tuple[float, float, int]  # (time, end if it runs now, index; a retry: -index - 1)


@dataclass(frozen=True)
class Setup:
    """The function's configuration and Lambda's parameters, shared by all options."""

    limits: FunctionLimits
    memory_mb: int = 128
    idle_s: float = 600.0
    allocation_delay_s: float = 120.0
    retries: int = 0  # attempts after a throttle (0: a throttled call fails)


@dataclass(frozen=True)
class Workload:
    arrivals: Arrivals
    durations: Distribution
    inits: Distribution
    seed: int = 0


def series_step(span_s: float) -> float:
    """Chart resolution: the finest step in SERIES_STEPS giving at most MAX_SERIES_POINTS."""
    return next((s for s in SERIES_STEPS if span_s / s <= MAX_SERIES_POINTS), 60.0)


class Engine:
    """One option over one workload. ``run()`` returns its :class:`SimResult`."""

    def __init__(
        self, option: Option, setup: Setup, workload: Workload, durations: FloatArray | None
    ) -> None:
        self.option, self.setup, self.workload = option, setup, workload
        self.times = workload.arrivals.times
        self.durations = durations  # per call, or None for a fixed duration
        self.fixed_duration = workload.durations.fixed_value
        count = len(workload.arrivals)
        self.cat = bytearray(count)
        self.cold_idx: list[int] = []
        self.cold_wait: list[float] = []
        self.retry_idx: list[int] = []
        self.retry_wait: list[float] = []
        self.pc: list[float] = []  # end times of busy PC environments (heap)
        self.od: list[float] = []  # end times of busy on-demand environments (heap)
        self.idle: deque[float] = deque()  # when each idle on-demand environment became idle
        self.scaling = ScalingRate()
        self.control = PcControl(option, setup, workload.arrivals.clock_start_s)
        self.rng = random.Random(workload.seed)
        self.retry_heap: list[Call] = []
        self.attempts: dict[int, int] = {}
        self.inits = self._inits()
        self.counts = {"pc": 0, "spill": 0, "throttles": 0, "retries": 0}
        self.pc_peak = self.od_peak = self.step_throttles = 0
        self.util_sum = 0.0  # this minute: sum over invocations of PC busy / PC allocated
        self.util_n = 0

    def _inits(self) -> Iterator[float]:
        value = self.workload.inits.fixed_value
        if value is not None:
            return repeat(value)
        return self._sampled_inits()

    def _sampled_inits(self) -> Iterator[float]:
        # seeded apart from the arrivals, and the same for every option: common random numbers
        rng = np.random.default_rng([self.workload.seed, 7])
        while True:
            yield from self.workload.inits.sample(rng, 4096).tolist()

    # --- the hot loop -----------------------------------------------------------------------
    def _serve(self, calls: Iterable[Call]) -> None:
        pc, od, idle, cat = self.pc, self.od, self.idle, self.cat
        ready, od_cap = self.control.ready, self.control.on_demand_cap
        idle_s, retrying = self.setup.idle_s, self.setup.retries > 0
        served_pc = spill = throttles = 0
        pc_peak, od_peak, util_busy = self.pc_peak, self.od_peak, 0
        for t, e, i in calls:
            if pc:
                if pc[0] <= t and len(pc) <= ready:
                    # 1. a PC environment freed since the last call serves it (the busy count
                    # cannot grow here, so the peak stands)
                    heapreplace(pc, e)
                    while pc[0] <= t:
                        heappop(pc)
                    served_pc += 1
                    util_busy += len(pc)
                    if i < 0:
                        self._retried(-i - 1, t)
                    continue
                while pc and pc[0] <= t:
                    heappop(pc)
            if len(pc) < ready:  # 1. an idle PC environment
                heappush(pc, e)
                served_pc += 1
                util_busy += len(pc)
                if len(pc) > pc_peak:
                    pc_peak = len(pc)
                if i < 0:
                    self._retried(-i - 1, t)
                continue
            util_busy += ready  # every PC environment is busy
            k = i if i >= 0 else -i - 1
            if od and od[0] <= t and len(od) <= od_cap:
                # 3. an on-demand environment freed since the last call serves it; any others
                # that freed meanwhile join the idle ones
                heapreplace(od, e)
                while od[0] <= t:
                    idle.append(heappop(od))
                cat[k] = 1
            else:
                while od and od[0] <= t:
                    idle.append(heappop(od))
                if len(od) >= od_cap:  # 2. above the concurrency cap
                    throttles += 1
                    self._throttled(t, e, k, retrying)
                    continue
                limit = t - idle_s
                while idle and idle[0] < limit:  # 3. expired idle environments are gone
                    idle.popleft()
                if idle:  # the most recently freed
                    idle.pop()
                    heappush(od, e)
                    cat[k] = 1
                elif self.scaling.take(t):  # a new environment: the caller waits its init
                    init = next(self.inits)
                    wait = init if init <= INIT_TIMEOUT_S else INIT_TIMEOUT_S + init
                    heappush(od, e + wait)
                    cat[k] = 2
                    self.cold_idx.append(k)
                    self.cold_wait.append(wait)
                else:  # the scaling rate is used up
                    throttles += 1
                    self._throttled(t, e, k, retrying)
                    continue
                if len(od) > od_peak:
                    od_peak = len(od)
            if ready:
                spill += 1
            if i < 0:
                self._retried(k, t)
        counts = self.counts
        counts["pc"] += served_pc
        counts["spill"] += spill
        counts["throttles"] += throttles
        self.step_throttles += throttles
        self.pc_peak, self.od_peak = pc_peak, od_peak
        if ready:  # the utilization metric exists only while PC is allocated
            self.util_sum += util_busy / ready
            self.util_n += served_pc + spill + throttles

    def _throttled(self, t: float, end: float, index: int, retrying: bool) -> None:
        tries = self.attempts.get(index, 0)
        if retrying and tries < self.setup.retries:
            self.attempts[index] = tries + 1
            self.counts["retries"] += 1
            cap = min(RETRY_MAX_DELAY_S, RETRY_INTERVAL_S * RETRY_BACKOFF**tries)
            again = t + self.rng.uniform(0.0, cap)
            heappush(self.retry_heap, (again, again + (end - t), -index - 1))
        else:
            self.cat[index] = THROTTLED

    def _retried(self, index: int, t: float) -> None:
        self.retry_idx.append(index)
        self.retry_wait.append(t - float(self.times[index]))

    def _with_retries(self, calls: Iterable[Call], until: float) -> Iterator[Call]:
        """The calls merged in time order with retries due before ``until`` (read live: a
        retry scheduled while serving may be due in the same segment)."""
        heap = self.retry_heap
        for call in calls:
            while heap and heap[0][0] <= call[0]:
                yield heappop(heap)
            yield call
        while heap and heap[0][0] < until:
            yield heappop(heap)

    # --- events -----------------------------------------------------------------------------
    def run(self) -> SimResult:
        times, span = self.times, self.workload.arrivals.span_s
        step = series_step(span)
        series: dict[str, list[float]] = {
            key: [] for key in ("pc_ready", "pc_busy", "on_demand_busy", "throttles", "busy_end")
        }
        next_step, next_minute = step, 60.0
        start = 0
        while True:
            boundary = min(next_step, next_minute, self.control.next_change)
            end = int(np.searchsorted(times, boundary, side="left"))
            if end > start or self.retry_heap:
                self._segment(start, end, boundary)
            start = end
            self.control.advance(boundary)
            if boundary == next_minute:
                self._minute(boundary)
                next_minute += 60.0
            if boundary == next_step:
                self._record(boundary, series)
                next_step += step
                if boundary >= span and start >= len(times) and not self.retry_heap:
                    break
        return summarise(self, series, step, max(span, next_step - step))

    def _segment(self, start: int, end: int, until: float) -> None:
        times = self.times[start:end]
        # the loop needs only when each call would end if it ran at once: numpy adds them
        durations = self.durations[start:end] if self.durations is not None else self.fixed_duration
        assert durations is not None
        calls: Iterable[Call] = zip(
            times.tolist(), (times + durations).tolist(), range(start, end), strict=True
        )
        if self.setup.retries > 0:
            calls = self._with_retries(calls, until)
        self._serve(calls)

    def _minute(self, now: float) -> None:
        datapoint = self.util_sum / self.util_n if self.util_n else None
        self.util_sum, self.util_n = 0.0, 0
        self.control.minute(now, datapoint)

    def _record(self, now: float, series: dict[str, list[float]]) -> None:
        while self.pc and self.pc[0] <= now:
            heappop(self.pc)
        while self.od and self.od[0] <= now:
            self.idle.append(heappop(self.od))
        series["pc_ready"].append(self.control.ready)
        series["pc_busy"].append(self.pc_peak)
        series["on_demand_busy"].append(self.od_peak)
        series["throttles"].append(self.step_throttles)
        # in flight at ``now`` counts the calls starting at ``now`` (served in the next segment)
        starting = int(np.searchsorted(self.times, now, side="right")) - int(
            np.searchsorted(self.times, now, side="left")
        )
        series["busy_end"].append(len(self.pc) + len(self.od) + starting)
        self.pc_peak, self.od_peak = len(self.pc), len(self.od)  # carried into the next step
        self.step_throttles = 0


def run_option(option: Option, setup: Setup, workload: Workload) -> SimResult:
    """Simulate one option (durations drawn from the workload's seed: the same for every
    option, so options differ only in how PC is configured)."""
    return Engine(option, setup, workload, sample_durations(workload)).run()


def sample_durations(workload: Workload) -> FloatArray | None:
    if workload.durations.fixed_value is not None:
        return None
    rng = np.random.default_rng([workload.seed, 3])
    return workload.durations.sample(rng, len(workload.arrivals))
