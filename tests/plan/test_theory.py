"""Where theory gives the answer, the simulator must give it too.

Exact checks use binary fractions (rate 8/s, durations of 0.375 s) so that float sums land
exactly where the arithmetic says; statistical checks (Erlang B, Little's law) state their
tolerance, chosen at about four standard errors of the simulated hour.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pclab.lambda_model.concurrency import FunctionLimits
from pclab.plan import arrivals, options
from pclab.plan.arrivals import Arrivals, Distribution
from pclab.plan.planner import offered_concurrency
from pclab.plan.results import SimResult
from pclab.plan.simulate import Setup, Workload, run_option


def simulate(
    times: Arrivals,
    option: options.Option,
    *,
    duration: float | Distribution = 0.375,
    init: float = 1.0,
    seed: int = 0,
    **setup: object,
) -> SimResult:
    durations = duration if isinstance(duration, Distribution) else Distribution.fixed(duration)
    workload = Workload(times, durations, Distribution.fixed(init), seed)
    limits = setup.pop("limits", FunctionLimits())
    return run_option(option, Setup(limits=limits, **setup), workload)  # type: ignore[arg-type]


def burst(count: int, span: float = 30.0) -> Arrivals:
    return Arrivals(np.zeros(count), span)


def erlang_b(servers: int, load: float) -> float:
    """The Erlang B loss probability, by the stable recurrence B(k) = aB(k-1) / (k + aB(k-1))."""
    blocked = 1.0
    for k in range(1, servers + 1):
        blocked = load * blocked / (k + load * blocked)
    return blocked


def test_pc_at_the_peak_concurrency_leaves_no_spillover_and_no_cold_start() -> None:
    times = arrivals.poisson(20.0, 1800.0, np.random.default_rng(5))
    peak = int(offered_concurrency(times, Distribution.fixed(0.5)).max())
    enough = simulate(times, options.fixed(peak), duration=0.5)
    assert (enough.served_by_pc, enough.spillover, enough.cold_starts) == (len(times), 0, 0)
    assert enough.peak_pc_busy == peak
    short = simulate(times, options.fixed(peak - 1), duration=0.5)
    assert short.spillover > 0 and short.cold_starts > 0  # one less is not enough


@pytest.mark.parametrize(("duration", "needed"), [(0.375, 3), (0.4, 4)])
def test_uniform_arrivals_need_ceil_rate_times_duration(duration: float, needed: int) -> None:
    times = arrivals.uniform(8.0, 120.0)  # every 0.125 s
    assert simulate(times, options.fixed(needed), duration=duration).spillover == 0
    fewer = simulate(times, options.fixed(needed - 1), duration=duration)
    assert fewer.spillover > 0
    assert fewer.peak_pc_busy == needed - 1


def test_uniform_arrivals_spill_exactly_one_call_in_three_over_two_units() -> None:
    # 8/s x 0.375 s = 3 in flight: two PC units take two calls of every three
    times = arrivals.uniform(8.0, 120.0)
    result = simulate(times, options.fixed(2))
    assert (result.served_by_pc, result.spillover) == (640, 320)
    # steady state in flight = r x d = 3 (time average, sampled every series step)
    assert simulate(times, options.fixed(3)).mean_concurrency == pytest.approx(3.0, abs=0.01)


@pytest.mark.parametrize("pc", [0, 50, 100, 150, 200])
def test_a_burst_of_b_with_pc_p_gives_max_0_b_minus_p_cold_starts(pc: int) -> None:
    result = simulate(burst(150), options.fixed(pc), duration=3.0, init=5.0)
    assert result.served_by_pc == min(150, pc)
    assert result.cold_starts == max(0, 150 - pc)
    assert result.spillover == (max(0, 150 - pc) if pc else 0)
    cold_latency = result.latency_cold_p50
    assert cold_latency == (8.0 if pc < 150 else None)  # init + duration


@pytest.mark.parametrize(("servers", "tolerance"), [(10, 0.012), (15, 0.006)])
@pytest.mark.parametrize("shape", ["fixed", "exponential"])
def test_spillover_share_over_a_pc_pool_is_erlang_b(
    servers: int, tolerance: float, shape: str
) -> None:
    # Poisson 20/s, mean duration 0.5 s: offered load 10 Erlang. The loss formula holds for any
    # duration distribution with that mean (M/G/c/c insensitivity).
    rng = np.random.default_rng(11)
    times = arrivals.poisson(20.0, 3600.0, rng)
    durations = (
        Distribution.fixed(0.5)
        if shape == "fixed"
        else Distribution.measured(list(rng.exponential(0.5, 50_000)), "exponential(0.5)")
    )
    result = simulate(times, options.fixed(servers), duration=durations, seed=3)
    share = result.spillover / result.calls
    assert share == pytest.approx(erlang_b(servers, 10.0), abs=tolerance)


def test_littles_law_mean_concurrency_is_rate_times_mean_latency() -> None:
    times = arrivals.poisson(20.0, 3600.0, np.random.default_rng(2))
    result = simulate(times, options.fixed(6), duration=0.5, init=1.0, idle_s=5.0)
    assert result.cold_starts > 100  # the latency mixes warm and cold calls
    assert result.latency.mean is not None
    expected = times.mean_rate * result.latency.mean
    assert result.mean_concurrency == pytest.approx(expected, rel=0.03)


def test_reserved_concurrency_caps_pc_plus_spillover_and_throttles_the_rest() -> None:
    result = simulate(
        burst(150), options.fixed(30), duration=3.0, limits=FunctionLimits(reserved=100)
    )
    assert (result.served_by_pc, result.served_on_demand) == (30, 70)
    assert (result.throttles, result.throttled_calls) == (50, 50)
    assert result.latency.count == 100  # a throttled call has no latency


def test_retried_throttles_run_later_and_wait_for_it() -> None:
    result = simulate(
        burst(150), options.fixed(0), duration=0.5, retries=6, limits=FunctionLimits(reserved=100)
    )
    assert result.throttled_calls == 0 and result.retries >= 50
    assert result.served_on_demand == 150
    assert result.latency.max is not None and result.latency.max > 1.5  # waited, then ran


def test_scaling_rate_allows_1000_new_environments_at_once() -> None:
    limits = FunctionLimits(account_limit=5000)
    result = simulate(burst(1500), options.fixed(0), duration=30.0, limits=limits)
    assert (result.cold_starts, result.throttled_calls) == (1000, 500)
    # retried within 16 s, the refill (100 a second) serves them all
    again = simulate(burst(1500), options.fixed(0), duration=30.0, limits=limits, retries=6)
    assert (again.cold_starts, again.throttled_calls) == (1500, 0)


@pytest.mark.parametrize(("gap_minutes", "cold"), [(9.0, 1), (11.0, 2)])
def test_an_idle_environment_expires_after_the_idle_time(gap_minutes: float, cold: int) -> None:
    times = Arrivals(np.array([0.0, gap_minutes * 60.0]), 1200.0)
    assert simulate(times, options.fixed(0), idle_s=600.0).cold_starts == cold


def test_an_init_past_10_seconds_costs_the_10_seconds_and_the_init_again() -> None:
    result = simulate(burst(1), options.fixed(0), duration=1.0, init=12.0)
    assert result.latency.max == pytest.approx(10.0 + 12.0 + 1.0)


def test_a_scheduled_raise_serves_calls_only_once_allocated() -> None:
    times = arrivals.uniform(1.0, 1200.0)  # one call a second, 0.5 s each
    option = options.scheduled("00:05-00:20=1,else=0")
    result = simulate(times, option, duration=0.5, allocation_delay_s=120.0)
    # requested at 300 s, READY at 420 s: calls 420 ... 1199 run on PC
    assert result.served_by_pc == 780
    assert (result.pc_min, result.pc_max) == (0, 1)
    assert result.pc_unit_seconds == pytest.approx(900.0)  # billed from the request


def test_target_tracking_ignores_a_burst_shorter_than_3_minutes() -> None:
    rng = np.random.default_rng(4)
    quiet = arrivals.poisson(2.0, 1800.0, rng).times
    burst_2min = 600.0 + np.sort(rng.random(24_000)) * 120.0  # 200/s for 2 minutes
    burst_6min = 600.0 + np.sort(rng.random(72_000)) * 360.0  # 200/s for 6 minutes
    policy = options.target_tracking("0.7:5-200", FunctionLimits())
    short = Arrivals(np.sort(np.concatenate([quiet, burst_2min])), 1800.0)
    long = Arrivals(np.sort(np.concatenate([quiet, burst_6min])), 1800.0)
    assert simulate(short, policy, duration=0.5).pc_max == 5
    scaled = simulate(long, policy, duration=0.5)
    assert scaled.pc_max > 5 and scaled.pc_changes >= 2  # out, and later back in


def test_the_same_seed_gives_the_same_plan() -> None:
    def run(seed: int) -> tuple[int, int, float | None]:
        times = arrivals.poisson(10.0, 600.0, np.random.default_rng(seed))
        durations = Distribution.measured([0.2, 0.4, 0.9], "measured")
        result = simulate(times, options.fixed(3), duration=durations, seed=seed)
        return result.spillover, result.cold_starts, result.latency.p99

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_fixed_pc_costs_its_allocation_scaled_to_a_day() -> None:
    from pclab.plan.cost import option_cost

    times = arrivals.uniform(1.0, 3600.0)
    result = simulate(times, options.fixed(10), duration=0.5)
    cost = option_cost(result, 1024)
    assert cost.allocation == pytest.approx(10 * 0.0000041667 * 3600)
    assert cost.duration_pc == pytest.approx(3600 * 0.5 * 0.0000097222)
    assert cost.requests == pytest.approx(3600 * 0.2e-6)
    assert cost.per_day == pytest.approx(cost.total * 24)
    assert math.isclose(cost.duration_on_demand, 0.0)


@pytest.mark.parametrize("retries", [0, 4])
def test_fixed_and_per_call_durations_summarise_alike(retries: int) -> None:
    # a measured distribution of one value takes the per-call (dense) path, a fixed one the
    # sparse path: same calls, same numbers
    times = arrivals.poisson(30.0, 900.0, np.random.default_rng(9))
    limits = FunctionLimits(reserved=12)
    common = {"init": 0.8, "idle_s": 20.0, "retries": retries, "limits": limits}
    sparse = simulate(times, options.fixed(4), duration=0.25, **common)
    dense = simulate(
        times, options.fixed(4), duration=Distribution.measured([0.25], "one value"), **common
    )
    assert sparse.throttles > 0 and sparse.cold_starts > 0
    assert (sparse.cold_starts, sparse.throttled_calls, sparse.spillover) == (
        dense.cold_starts,
        dense.throttled_calls,
        dense.spillover,
    )
    assert (sparse.pc_billed_ms, sparse.on_demand_billed_ms) == (
        dense.pc_billed_ms,
        dense.on_demand_billed_ms,
    )
    assert sparse.latency.as_dict() == pytest.approx(dense.latency.as_dict())
    assert sparse.latency_cold_p50 == pytest.approx(dense.latency_cold_p50)
