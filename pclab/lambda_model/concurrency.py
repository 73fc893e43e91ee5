"""Lambda's concurrency rules: limits, provisioned concurrency, scaling rate, init and idle timing.

Concurrency is the number of invocations in flight (waiting for an init or running); an execution
environment serves one invocation at a time and stays warm afterwards (AWS Lambda developer
guide, "Understanding Lambda function scaling" / "Lambda concurrency").

The rules, each with its source:
- Account limit: 1,000 concurrent executions per Region by default, and Lambda keeps at least 100
  of them unreserved: PutFunctionConcurrency refuses a value that would leave less
  (``InvalidParameterValueException``, "...UnreservedConcurrentExecution below its minimum value
  of [100]"; FACTS.md, "Lambda concurrency").
- Reserved concurrency caps a function's concurrency, provisioned environments included; above
  it a synchronous invoke fails with 429 ``TooManyRequestsException`` (FACTS.md).
- Provisioned concurrency (PC) counts toward reserved concurrency and the Regional quota: "You
  can't allocate more provisioned concurrency than reserved concurrency for a function"; when PC
  adds up to the reserved concurrency "all invocations run on provisioned concurrency" (developer
  guide, "Managing Lambda provisioned concurrency"). So on-demand (spillover) concurrency may use
  what the cap leaves above the PC configured: :meth:`FunctionLimits.on_demand_cap`.
- Scaling rate: "for each function, your concurrency scaling rate is 1,000 execution environment
  instances every 10 seconds"; Lambda refills it "continuously over time" and does not accumulate
  unused units, so at any instant at most 1,000 new environments may start; a request that finds
  none fails with 429 (developer guide, "Lambda scaling behavior"). :class:`ScalingRate` is that
  token bucket.
- Init limit: the on-demand Init phase may take 10 s; if it takes longer, Lambda retries the init
  as part of the first invoke (FACTS.md, developer guide "Lambda execution environment
  lifecycle"): the caller then waits the 10 s lost plus the whole init again.
- Idle expiry: AWS does not document how long an idle environment stays warm ("a non-deterministic
  period of time", Lambda operator guide, "Lambda execution environments"). Public measurements:
  a fixed 10 minutes after the last call (Mikhail Shilkov, "AWS Lambda Cold Starts After 10
  Minutes", 2019: every instance lived exactly 10 minutes), earlier 25-60 minutes, and 45-60
  minutes with some earlier (Yan Cui, "How long does AWS Lambda keep your idle functions around",
  Pluralsight). A parameter, 10 minutes by default.

Pure: imports nothing of pclab. The local cloud can drive these with the wall clock and the
planner with a simulated one.
"""

from __future__ import annotations

from dataclasses import dataclass

ACCOUNT_CONCURRENCY_LIMIT = 1000
MIN_UNRESERVED_CONCURRENCY = 100
SCALING_RATE_ENVIRONMENTS = 1000  # new environments per function ...
SCALING_RATE_WINDOW_S = 10.0  # ... every 10 seconds, refilled continuously
INIT_TIMEOUT_S = 10.0  # on-demand Init phase limit
DEFAULT_IDLE_EXPIRY_S = 600.0  # measured, not documented: see the module docstring


class ConcurrencyConfigError(ValueError):
    """A concurrency setting Lambda would refuse; the message is one line naming the fix."""


@dataclass(frozen=True, slots=True)
class FunctionLimits:
    """The concurrency limits of one function in an account.

    ``reserved`` None means the function has no reserved concurrency and shares what the account
    leaves unreserved (the planner assumes nothing else in the account is running).
    """

    account_limit: int = ACCOUNT_CONCURRENCY_LIMIT
    reserved: int | None = None

    def __post_init__(self) -> None:
        if self.account_limit < MIN_UNRESERVED_CONCURRENCY:
            raise ConcurrencyConfigError(
                f"account limit {self.account_limit}: Lambda keeps {MIN_UNRESERVED_CONCURRENCY} "
                f"unreserved, so the limit must be at least {MIN_UNRESERVED_CONCURRENCY}"
            )
        if self.reserved is not None:
            most = self.account_limit - MIN_UNRESERVED_CONCURRENCY
            if not 0 <= self.reserved <= most:
                raise ConcurrencyConfigError(
                    f"reserved concurrency {self.reserved}: Lambda keeps "
                    f"{MIN_UNRESERVED_CONCURRENCY} of the account's {self.account_limit} "
                    f"unreserved, so reserve 0 to {most}"
                )

    @property
    def cap(self) -> int:
        """The most invocations of this function in flight at once, PC included."""
        return self.account_limit if self.reserved is None else self.reserved

    @property
    def max_provisioned(self) -> int:
        """The most PC Lambda accepts: the reserved concurrency, else what keeps 100 unreserved."""
        if self.reserved is not None:
            return self.reserved
        return self.account_limit - MIN_UNRESERVED_CONCURRENCY

    def check_provisioned(self, units: int) -> None:
        """Raise :class:`ConcurrencyConfigError` for a PC level Lambda would refuse."""
        if units < 0:
            raise ConcurrencyConfigError(f"provisioned concurrency {units}: use 0 or more")
        if units > self.max_provisioned:
            if self.reserved is not None:
                reason = f"is more than the reserved concurrency of {self.reserved}"
            else:
                reason = (
                    f"would leave less than {MIN_UNRESERVED_CONCURRENCY} of the account's "
                    f"{self.account_limit} unreserved"
                )
            raise ConcurrencyConfigError(
                f"provisioned concurrency {units} {reason}: use at most {self.max_provisioned}"
            )

    def on_demand_cap(self, provisioned: int) -> int:
        """In-flight on-demand (spillover) invocations allowed next to ``provisioned`` PC units."""
        return max(0, self.cap - provisioned)


class ScalingRate:
    """The per-function scaling rate as a token bucket: ``take(now)`` is True when one more new
    environment may start at ``now`` (seconds, any clock that only moves forward)."""

    __slots__ = ("_last", "_tokens", "capacity", "per_second")

    def __init__(
        self,
        capacity: float = SCALING_RATE_ENVIRONMENTS,
        window_s: float = SCALING_RATE_WINDOW_S,
        start: float = 0.0,
    ) -> None:
        self.capacity = float(capacity)
        self.per_second = capacity / window_s
        self._tokens = float(capacity)  # "at any instant ... always 1,000 units at maximum"
        self._last = start

    def available(self, now: float) -> float:
        """New environments that may start at ``now``."""
        return min(self.capacity, self._tokens + (now - self._last) * self.per_second)

    def take(self, now: float) -> bool:
        tokens = self.available(now)
        self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False


def on_demand_init_wait(init_s: float) -> float:
    """Seconds a caller waits for the init of a new on-demand environment whose init takes
    ``init_s``: the init itself, or past the 10 s limit, the 10 s lost plus the init run again as
    part of the first invoke."""
    if init_s <= INIT_TIMEOUT_S:
        return init_s
    return INIT_TIMEOUT_S + init_s
