"""The AWS/Lambda metrics the data plane emits: names, dimension sets, per-minute statistics.

First the aggregation itself on a fake clock (what a minute's Sum and Maximum are), then real
environments: a provisioned pool of 2 with 4 calls at once spills 2 over, a reservation of 2 with 3
at once throttles one, and the metrics say so as CloudWatch would.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pclab.localcloud.environments import EnvironmentManager
from pclab.localcloud.environments.metrics import CallContext, Datum, LambdaMetrics
from pclab.localcloud.invocation import FunctionSpec, InvokeRequest, LambdaServiceError

from .conftest import make_spec
from .helpers import wait_status

FN = (("FunctionName", "f"),)
LIVE = (("FunctionName", "f"), ("Resource", "f:live"))


def series(datums: list[Datum], name: str, dims: tuple[tuple[str, str], ...]) -> list[Datum]:
    return sorted(
        (d for d in datums if d.name == name and d.dimensions == dims), key=lambda d: d.minute
    )


def call(served_by_pc: bool, *, reserved: bool = False) -> CallContext:
    return CallContext("f", "f:live", "3", reserved, True, served_by_pc)


def test_a_minute_of_pc_calls_and_spillover_in_every_dimension_set() -> None:
    now = [120.5]
    metrics = LambdaMetrics(clock=lambda: now[0])
    metrics.set_provisioned("f", "f:live", 2)
    calls = [call(True), call(True), call(False), call(False)]
    for c in calls:
        metrics.begin(c)
    for i, c in enumerate(calls):
        metrics.end(c, duration_ms=100.0 * (i + 1), error=i == 3)
    metrics.throttled("f", "f:live")
    now[0] = 185.0  # the next minute
    metrics.begin(call(False))
    got = metrics.datums()

    for dims in [(), FN, LIVE, (*LIVE, ("ExecutedVersion", "3"))]:
        first = series(got, "Invocations", dims)[0]
        assert (first.minute, first.stat.total, first.unit) == (120, 4, "Count")
        assert series(got, "Errors", dims)[0].stat.total == 1
        duration = series(got, "Duration", dims)[0]
        assert (duration.stat.minimum, duration.stat.maximum, duration.unit) == (
            100.0,
            400.0,
            "Milliseconds",
        )
        assert duration.stat.total / duration.stat.count == 250.0
    for dims in [FN, LIVE]:
        assert series(got, "ProvisionedConcurrencyInvocations", dims)[0].stat.total == 2
        assert series(got, "ProvisionedConcurrencySpilloverInvocations", dims)[0].stat.total == 2
        assert series(got, "ProvisionedConcurrentExecutions", dims)[0].stat.maximum == 2
    assert [d.stat.maximum for d in series(got, "ConcurrentExecutions", LIVE)] == [4, 1]
    assert series(got, "ProvisionedConcurrencyUtilization", LIVE)[0].stat.maximum == 1.0
    # Only the two spillover calls used the unreserved pool; PC is allocated, so claimed = 2 + 2.
    assert series(got, "UnreservedConcurrentExecutions", ())[0].stat.maximum == 2
    assert series(got, "ClaimedAccountConcurrency", ())[0].stat.maximum == 4
    assert [d.stat.total for d in series(got, "Throttles", LIVE)] == [1]
    assert not series(got, "Throttles", (*LIVE, ("ExecutedVersion", "3")))


def test_a_reserved_function_is_claimed_by_its_reservation_not_its_calls() -> None:
    metrics = LambdaMetrics(clock=lambda: 60.0)
    metrics.set_reserved("f", 10)
    metrics.begin(call(False, reserved=True))
    got = metrics.datums()
    assert not series(got, "UnreservedConcurrentExecutions", ())
    assert series(got, "ClaimedAccountConcurrency", ())[-1].stat.maximum == 10


def _request(event: dict[str, int], spec: FunctionSpec) -> InvokeRequest:
    return InvokeRequest(
        spec=spec,
        payload=json.dumps(event).encode(),
        provisioned_qualifier="live",
        qualifier="live",
    )


@pytest.mark.slow
def test_real_environments_pc_2_with_4_at_once_spill_2_and_a_reservation_throttles(
    manager: EnvironmentManager,
) -> None:
    spec = make_spec("pcfn", version="1", init_delay=0.2, work=1.0)
    manager.set_reserved_concurrency("pcfn", 4)
    manager.put_provisioned_concurrency(spec, "live", 2)
    wait_status(manager, "pcfn", "live", "READY", timeout=30)
    with ThreadPoolExecutor(max_workers=4) as pool:
        four = [pool.submit(manager.invoke, _request({"id": i}, spec)) for i in range(4)]
        deadline = time.monotonic() + 10
        while manager.stats("pcfn").inflight < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(LambdaServiceError) as fifth:  # the reservation of 4 is full
            manager.invoke(_request({"id": 4}, spec))
        assert all(f.result().function_error is None for f in four)
    assert fifth.value.status == 429
    got = manager.metrics.datums()
    live = (("FunctionName", "pcfn"), ("Resource", "pcfn:live"))

    def total(name: str) -> float:
        return sum(d.stat.total for d in series(got, name, live))

    assert total("Invocations") == 4
    assert total("ProvisionedConcurrencyInvocations") == 2
    assert total("ProvisionedConcurrencySpilloverInvocations") == 2
    assert total("Throttles") == 1
    assert max(d.stat.maximum for d in series(got, "ProvisionedConcurrentExecutions", live)) == 2
    assert max(d.stat.maximum for d in series(got, "ConcurrentExecutions", live)) == 4
    assert max(d.stat.maximum for d in series(got, "ProvisionedConcurrencyUtilization", live)) == 1
