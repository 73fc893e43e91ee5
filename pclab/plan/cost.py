"""What an option costs at Lambda's published prices (``pclab.lambda_model.prices``).

- requests: every call that ran (a throttled attempt is not billed);
- duration: calls served by PC at the PC duration rate, on-demand calls (spillover included) at
  the on-demand rate, their init included; each rounded up to the millisecond;
- allocation: the PC configured, per GB-second for as long as it is configured, whether used or
  not (at least the 5-minute minimum when any is configured).

``per_day`` scales the simulated span's total to 24 hours: compare options of different spans.
Imports the prices from ``pclab.lambda_model`` (one copy, shared with the analysis); no boto3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pclab.lambda_model import prices
from pclab.plan.arrivals import SECONDS_PER_DAY
from pclab.plan.results import SimResult


@dataclass(frozen=True)
class OptionCost:
    requests: float
    duration: float  # both duration rates
    duration_pc: float
    duration_on_demand: float
    allocation: float
    total: float  # for the simulated span
    per_day: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "per_day": self.per_day,
            "total": self.total,
            "allocation": self.allocation,
            "duration": self.duration,
            "duration_pc": self.duration_pc,
            "duration_on_demand": self.duration_on_demand,
            "requests": self.requests,
        }


def option_cost(result: SimResult, memory_mb: int) -> OptionCost:
    gigabytes = prices.gigabytes(memory_mb)
    ran = result.calls - result.throttled_calls
    requests = ran * prices.PRICE_PER_REQUEST
    duration_pc = result.pc_billed_ms / 1000.0 * gigabytes * prices.PRICE_PC_DURATION_GB_SECOND
    duration_on_demand = (
        result.on_demand_billed_ms / 1000.0 * gigabytes * prices.PRICE_ON_DEMAND_GB_SECOND
    )
    unit_seconds = result.pc_unit_seconds
    if result.pc_max > 0 and result.span_s < prices.PC_MINIMUM_SECONDS:
        # a short span: the configured PC is billed for 5 minutes at least
        unit_seconds = unit_seconds * prices.PC_MINIMUM_SECONDS / result.span_s
    allocation = unit_seconds * gigabytes * prices.PRICE_PC_GB_SECOND
    total = requests + duration_pc + duration_on_demand + allocation
    per_day = total * SECONDS_PER_DAY / result.span_s if result.span_s > 0 else total
    return OptionCost(
        requests=requests,
        duration=duration_pc + duration_on_demand,
        duration_pc=duration_pc,
        duration_on_demand=duration_on_demand,
        allocation=allocation,
        total=total,
        per_day=per_day,
    )
