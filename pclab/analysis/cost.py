"""Cost at the published prices (FACTS.md: us-east-1, x86), per run.

Lambda bills requests, plus duration in GB-seconds: at the on-demand rate for calls served by
on-demand environments (including provisioned-concurrency spillover), at the lower PC duration
rate for calls served by provisioned environments, and the configured PC itself for as long as it
is enabled (5-minute minimum), whether or not anything calls it. A SnapStart run adds the
snapshot's caching (3-hour minimum) and one restore charge per environment resumed from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pclab.analysis.model import INIT_TYPE_SNAPSTART, THROTTLE_ERROR, CostBreakdown, Invocation

# The rates live with Lambda's other rules (one copy for the analysis, the planner and the local
# cloud); re-exported here ("X as X") for report.json, which reads them from this module.
from pclab.lambda_model.prices import PC_MINIMUM_SECONDS as PC_MINIMUM_SECONDS
from pclab.lambda_model.prices import PRICE_ON_DEMAND_GB_SECOND as PRICE_ON_DEMAND_GB_SECOND
from pclab.lambda_model.prices import PRICE_PC_DURATION_GB_SECOND as PRICE_PC_DURATION_GB_SECOND
from pclab.lambda_model.prices import PRICE_PC_GB_SECOND as PRICE_PC_GB_SECOND
from pclab.lambda_model.prices import PRICE_PER_REQUEST as PRICE_PER_REQUEST
from pclab.lambda_model.prices import (
    PRICE_SNAPSTART_CACHE_GB_SECOND as PRICE_SNAPSTART_CACHE_GB_SECOND,
)
from pclab.lambda_model.prices import PRICE_SNAPSTART_RESTORE_GB as PRICE_SNAPSTART_RESTORE_GB
from pclab.lambda_model.prices import (
    SNAPSTART_CACHE_MINIMUM_SECONDS as SNAPSTART_CACHE_MINIMUM_SECONDS,
)
from pclab.lambda_model.prices import pc_hourly_usd as pc_hourly_usd
from pclab.lambda_model.prices import snapstart_cache_usd, snapstart_restore_usd


def billed_ms(inv: Invocation) -> tuple[float, bool]:
    """(billed milliseconds, estimated?) for one call.

    The REPORT line's Billed Duration when there is one. Otherwise an estimate from the handler's
    run time, rounded up to the millisecond as Lambda does, plus the init the caller waited for on
    an on-demand environment (Lambda bills the on-demand INIT phase: the FACTS.md REPORT line's
    8208 ms = 3001 ms + 5206 ms).
    """
    if inv.billed_duration_ms is not None:
        return inv.billed_duration_ms, False
    run = inv.handler_latency_s
    if run is None:
        return 0.0, inv.error != THROTTLE_ERROR
    total = run * 1000.0
    if inv.cold and not inv.served_by_pc and inv.init_duration_ms is not None:
        total += inv.init_duration_ms
    return float(math.ceil(total)), True


def run_cost(
    invocations: Iterable[Invocation],
    *,
    memory_mb: int,
    provisioned_concurrency: int,
    pc_enabled_seconds: float,
    snapstart_active_seconds: float = 0.0,
) -> CostBreakdown:
    """The cost of one run's calls plus the configured PC over ``pc_enabled_seconds``.

    A call of a ``snap-start`` environment the caller waited for is a restore; with any such call
    (or ``snapstart_active_seconds`` given) the snapshot's caching over that time is added.
    """
    gigabytes = memory_mb / 1024.0
    requests = 0
    on_demand_gb_s = 0.0
    pc_gb_s = 0.0
    estimated = False
    restores = 0
    snapstart = snapstart_active_seconds > 0
    for inv in invocations:
        if inv.error == THROTTLE_ERROR:
            continue  # a throttled request never ran and is not billed
        requests += 1
        if inv.init_type == INIT_TYPE_SNAPSTART:
            snapstart = True
            restores += 1 if inv.cold else 0
        milliseconds, guessed = billed_ms(inv)
        estimated = estimated or guessed
        gb_seconds = milliseconds / 1000.0 * gigabytes
        if inv.served_by_pc:
            pc_gb_s += gb_seconds
        else:
            on_demand_gb_s += gb_seconds
    enabled = max(pc_enabled_seconds, PC_MINIMUM_SECONDS) if provisioned_concurrency > 0 else 0.0
    pc_allocation = provisioned_concurrency * gigabytes * enabled * PRICE_PC_GB_SECOND
    requests_usd = requests * PRICE_PER_REQUEST
    on_demand_usd = on_demand_gb_s * PRICE_ON_DEMAND_GB_SECOND
    pc_served_usd = pc_gb_s * PRICE_PC_DURATION_GB_SECOND
    cache_usd = snapstart_cache_usd(memory_mb, snapstart_active_seconds) if snapstart else 0.0
    if snapstart and not cache_usd:  # a run without its own span: the minimum is what is billed
        cache_usd = snapstart_cache_usd(memory_mb, SNAPSTART_CACHE_MINIMUM_SECONDS)
    restore_usd = snapstart_restore_usd(memory_mb, restores)
    return CostBreakdown(
        requests_usd=requests_usd,
        on_demand_gb_seconds=on_demand_gb_s,
        on_demand_usd=on_demand_usd,
        pc_served_gb_seconds=pc_gb_s,
        pc_served_usd=pc_served_usd,
        pc_enabled_seconds=enabled,
        pc_allocation_usd=pc_allocation,
        pc_hourly_usd=pc_hourly_usd(provisioned_concurrency, memory_mb),
        total_usd=requests_usd
        + on_demand_usd
        + pc_served_usd
        + pc_allocation
        + cache_usd
        + restore_usd,
        billed_estimated=estimated,
        snapstart_cache_usd=cache_usd,
        snapstart_restore_usd=restore_usd,
        snapstart_restores=restores,
    )
