"""How provisioned concurrency (PC) changes over time: allocation, and Application Auto Scaling's
target tracking on ``ProvisionedConcurrencyUtilization``.

Rules and sources:
- Allocation is not immediate: "Provisioned concurrency does not come online immediately after
  you configure it. Lambda starts allocating provisioned concurrency after a minute or two of
  preparation" (AWS Lambda developer guide, "Managing Lambda provisioned concurrency",
  awsdocs/aws-lambda-developer-guide doc_source/provisioned-concurrency.md). The status is
  IN_PROGRESS until READY (FACTS.md). Modelled as: a raise becomes usable
  :data:`DEFAULT_ALLOCATION_DELAY_S` after it is requested (a parameter); a cut takes effect at
  once. Billing starts when PC is enabled, not when it is READY (pricing page: "from the time you
  enable it").
- The metric: ``ProvisionedConcurrencyUtilization`` is "the value of
  ProvisionedConcurrentExecutions divided by the total amount of provisioned concurrency
  allocated", emitted "for each invocation of an alias or version with provisioned concurrency"
  at 1-minute granularity (same page; FACTS.md, "Lambda metrics"). No invocations, no datapoint.
- Target tracking: "Application Auto Scaling creates two alarms in CloudWatch. The first alarm
  triggers when the utilization of provisioned concurrency consistently exceeds [the target] ...
  The second alarm triggers when utilization is consistently less than 90 percent of the target"
  and "Both of these alarms use the average statistic by default ... if the burst doesn't last 3
  minutes, auto scaling will not trigger" (same page, "Target tracking"). The alarms' shapes: scale
  out after 3 datapoints of 1 minute above the target, scale in after 15 datapoints of 1 minute
  below 90 % of it (George Mao, AWS, "Understanding Lambda Provisioned Concurrency AutoScaling",
  2020, showing the alarms AWS creates). Application Auto Scaling "calculates the scaling
  adjustment based on the metric and the target value", adds capacity "proportional to the metric
  value" for a metric that "changes inversely proportional to" capacity (Application Auto Scaling
  user guide, "How target tracking scaling for Application Auto Scaling works"): modelled as
  capacity x metric / target, rounded up. Utilization cannot exceed 1, so one step out grows PC
  by at most 1/target (x1.43 at 0.7), and spillover beyond it goes unseen. The default
  cooldowns for Lambda PC are 0 (API reference, TargetTrackingScalingPolicyConfiguration).
  A missing datapoint (a minute without calls) breaks a run of breaching datapoints.

Pure: imports nothing of pclab.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

DEFAULT_ALLOCATION_DELAY_S = 120.0  # "a minute or two of preparation"
METRIC_PERIOD_S = 60.0
SCALE_OUT_DATAPOINTS = 3
SCALE_IN_DATAPOINTS = 15
SCALE_IN_FRACTION = 0.9  # the low alarm's threshold is 90 % of the target


def target_tracking_capacity(current: int, metric: float, target: float) -> int:
    """The capacity target tracking asks for: ``current x metric / target``, rounded up."""
    # the epsilon keeps 10 x 0.7 / 0.7 at 10, not 11
    return math.ceil(current * metric / target - 1e-9)


@dataclass
class TargetTracking:
    """A target-tracking policy on ProvisionedConcurrencyUtilization, fed one datapoint a minute.

    ``observe`` returns the new capacity to request, or None to leave it. ``ready`` is the PC
    allocated now (what the metric divides by), ``requested`` what was last asked for.
    """

    target: float
    min_capacity: int
    max_capacity: int

    def __post_init__(self) -> None:
        if not 0.0 < self.target <= 1.0:
            raise ValueError(f"target utilization {self.target}: use a value in (0, 1]")
        if not 1 <= self.min_capacity <= self.max_capacity:
            raise ValueError(
                f"capacity {self.min_capacity}-{self.max_capacity}: use 1 <= min <= max"
            )
        self._recent: deque[float | None] = deque(maxlen=SCALE_IN_DATAPOINTS)

    def observe(self, datapoint: float | None, *, ready: int, requested: int) -> int | None:
        self._recent.append(datapoint)
        recent = list(self._recent)
        last_out = recent[-SCALE_OUT_DATAPOINTS:]
        if (
            len(last_out) == SCALE_OUT_DATAPOINTS
            and all(v is not None and v > self.target for v in last_out)
            and datapoint is not None
        ):
            wanted = min(self.max_capacity, target_tracking_capacity(ready, datapoint, self.target))
            return wanted if wanted > requested else None
        low = self.target * SCALE_IN_FRACTION
        if (
            len(recent) == SCALE_IN_DATAPOINTS
            and all(v is not None and v < low for v in recent)
            and datapoint is not None
        ):
            wanted = max(self.min_capacity, target_tracking_capacity(ready, datapoint, self.target))
            return wanted if wanted < requested else None
        return None
