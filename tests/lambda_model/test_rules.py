"""Lambda's rules as documented: limits, scaling rate, init limit, prices, target tracking."""

from __future__ import annotations

import pytest

from pclab.analysis import cost as analysis_cost
from pclab.lambda_model import prices
from pclab.lambda_model.autoscaling import TargetTracking, target_tracking_capacity
from pclab.lambda_model.concurrency import (
    ConcurrencyConfigError,
    FunctionLimits,
    ScalingRate,
    on_demand_init_wait,
)


def test_reserved_concurrency_keeps_100_unreserved() -> None:
    assert FunctionLimits(reserved=900).cap == 900
    with pytest.raises(ConcurrencyConfigError, match="reserve 0 to 900"):
        FunctionLimits(reserved=901)
    with pytest.raises(ConcurrencyConfigError, match="at least 100"):
        FunctionLimits(account_limit=50)


def test_provisioned_concurrency_counts_toward_reserved() -> None:
    limits = FunctionLimits(reserved=200)
    limits.check_provisioned(200)
    with pytest.raises(ConcurrencyConfigError, match="more than the reserved concurrency of 200"):
        limits.check_provisioned(201)
    # what PC leaves for spillover: all of it when PC equals reserved
    assert (limits.on_demand_cap(150), limits.on_demand_cap(200)) == (50, 0)
    unreserved = FunctionLimits()
    unreserved.check_provisioned(900)
    with pytest.raises(ConcurrencyConfigError, match="use at most 900"):
        unreserved.check_provisioned(901)
    assert unreserved.on_demand_cap(100) == 900


def test_scaling_rate_is_1000_environments_per_10_seconds_refilled_continuously() -> None:
    rate = ScalingRate()
    assert all(rate.take(0.0) for _ in range(1000))
    assert not rate.take(0.0)
    assert rate.available(1.0) == pytest.approx(100.0)  # 100 a second
    assert sum(rate.take(1.0) for _ in range(150)) == 100
    assert rate.available(60.0) == 1000.0  # unused rate does not accumulate past 1,000


def test_init_past_10_seconds_is_retried_in_the_first_invoke() -> None:
    assert on_demand_init_wait(5.0) == 5.0
    assert on_demand_init_wait(10.0) == 10.0
    assert on_demand_init_wait(12.0) == 22.0


def test_prices_are_one_copy_shared_with_the_analysis() -> None:
    assert analysis_cost.PRICE_PC_GB_SECOND is prices.PRICE_PC_GB_SECOND
    per_million = analysis_cost.PRICE_PER_REQUEST * 1_000_000
    assert per_million == pytest.approx(0.2)
    assert prices.pc_hourly_usd(150, 1024) == pytest.approx(2.25, abs=0.001)
    assert (prices.billed_ms(0.003), prices.billed_ms(0.0031), prices.billed_ms(3.0)) == (
        3,
        4,
        3000,
    )
    assert prices.pc_enabled_billed_seconds(1.0) == 300.0
    assert prices.pc_enabled_billed_seconds(301.0) == 600.0
    assert prices.pc_enabled_billed_seconds(0.0) == 0.0


def test_target_tracking_scales_out_after_3_datapoints_above_target() -> None:
    policy = TargetTracking(0.7, 1, 100)
    assert policy.observe(1.0, ready=10, requested=10) is None
    assert policy.observe(1.0, ready=10, requested=10) is None
    assert policy.observe(1.0, ready=10, requested=10) == 15  # ceil(10 x 1.0 / 0.7)
    policy = TargetTracking(0.7, 1, 100)
    for datapoint in (1.0, 1.0, None, 1.0, 1.0):  # a minute without calls breaks the run
        assert policy.observe(datapoint, ready=10, requested=10) is None
    assert TargetTracking(0.7, 1, 12).observe(1.0, ready=10, requested=10) is None
    capped = TargetTracking(0.7, 1, 12)
    capped.observe(1.0, ready=10, requested=10)
    capped.observe(1.0, ready=10, requested=10)
    assert capped.observe(1.0, ready=10, requested=10) == 12  # at most MAX


def test_target_tracking_scales_in_after_15_datapoints_below_90_percent() -> None:
    policy = TargetTracking(0.7, 2, 100)
    answers = [policy.observe(0.3, ready=20, requested=20) for _ in range(15)]
    assert answers[:14] == [None] * 14
    assert answers[14] == 9  # ceil(20 x 0.3 / 0.7)
    near = TargetTracking(0.7, 2, 100)  # 0.65 is above 90 % of 0.7 (0.63): no scale-in
    assert all(near.observe(0.65, ready=20, requested=20) is None for _ in range(20))
    floor = TargetTracking(0.7, 5, 100)
    assert [floor.observe(0.01, ready=20, requested=20) for _ in range(15)][-1] == 5
    assert target_tracking_capacity(10, 0.7, 0.7) == 10
    with pytest.raises(ValueError, match="target utilization"):
        TargetTracking(1.5, 1, 10)
