"""Lambda's concurrency model with real environments: cold starts, provisioned pools, spillover,
reserved caps and throttles, warm reuse. Small delays (init 0.4 s, work 0.3-0.5 s) keep it quick.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from pclab.localcloud.environments import EnvironmentManager
from pclab.localcloud.invocation import InvokeResult, LambdaServiceError

from .conftest import MemorySink, assert_gone, make_spec
from .helpers import body, invoke, invoke_many, wait_status

pytestmark = pytest.mark.slow

INIT = 0.4


def test_reserved_200_no_pc_100_at_once_are_100_cold_starts_then_a_warm_wave(
    manager: EnvironmentManager,
) -> None:
    spec = make_spec("base", version="1", init_delay=INIT, work=0.5)
    manager.set_reserved_concurrency("base", 200)
    first = [
        body(r)
        for r in invoke_many(manager, spec, [{"id": i} for i in range(100)], qualifier="live")
    ]
    assert sum(d["first"] for d in first) == 100, "every one of 100 concurrent calls was cold"
    assert len({d["env"] for d in first}) == 100
    assert {d["initType"] for d in first} == {"on-demand"}
    stats = manager.stats("base")
    assert stats.cold_starts == 100 and stats.peak_environments == 100

    # Second wave: the same 100 environments, all warm, no new init.
    second = [
        body(r)
        for r in invoke_many(manager, spec, [{"id": i} for i in range(100)], qualifier="live")
    ]
    assert not any(d["first"] for d in second)
    assert {d["env"] for d in second} == {d["env"] for d in first}
    assert manager.stats("base").cold_starts == 100


def test_pc_150_then_100_at_once_are_all_served_warm_by_provisioned_environments(
    manager: EnvironmentManager,
) -> None:
    spec = make_spec("prov", version="1", init_delay=INIT, work=0.3)
    manager.set_reserved_concurrency("prov", 200)
    manager.put_provisioned_concurrency(spec, "live", 150)
    assert manager.provisioned_status("prov", "live")[0] == "IN_PROGRESS"
    _status, ready, reason = wait_status(manager, "prov", "live", "READY", timeout=60)
    assert (ready, reason) == (150, None)

    t0 = time.time()
    results = [
        body(r)
        for r in invoke_many(manager, spec, [{"id": i} for i in range(100)], qualifier="live")
    ]
    assert {d["initType"] for d in results} == {"provisioned-concurrency"}
    assert all(d["first"] for d in results), "each PC environment serves its first call"
    assert all(d["initEndedAt"] < t0 for d in results), "init happened before the load, not in it"
    stats = manager.stats("prov")
    assert stats.cold_starts == 0 and stats.provisioned_invocations == 100
    assert stats.spillover_invocations == 0

    # The unqualified function ($LATEST) never uses provisioned concurrency.
    latest = make_spec("prov", version="$LATEST", init_delay=INIT, work=0)
    doc = body(invoke(manager, latest, {"id": "latest"}))
    assert doc["initType"] == "on-demand" and doc["first"] is True


def test_pc_50_then_100_at_once_spill_50_over_to_on_demand_cold_starts(
    manager: EnvironmentManager,
) -> None:
    spec = make_spec("spill", version="1", init_delay=INIT, work=0.5)
    manager.put_provisioned_concurrency(spec, "live", 50)
    wait_status(manager, "spill", "live", "READY", timeout=60)
    results = [
        body(r)
        for r in invoke_many(manager, spec, [{"id": i} for i in range(100)], qualifier="live")
    ]
    by_type = {
        t: [d for d in results if d["initType"] == t]
        for t in ("provisioned-concurrency", "on-demand")
    }
    assert len(by_type["provisioned-concurrency"]) == 50
    assert len(by_type["on-demand"]) == 50, "the 50 above the PC level spill over"
    stats = manager.stats("spill")
    assert stats.cold_starts == 50 and stats.spillover_invocations == 50
    assert stats.provisioned_invocations == 50


def test_reserved_10_with_40_concurrent_throttles_and_never_exceeds_10_environments(
    manager: EnvironmentManager,
) -> None:
    spec = make_spec("capped", version="1", init_delay=INIT, work=0.5)
    manager.set_reserved_concurrency("capped", 10)
    results = invoke_many(manager, spec, [{"id": i} for i in range(40)], qualifier="live")
    ok = [r for r in results if isinstance(r, InvokeResult)]
    throttled = [r for r in results if isinstance(r, LambdaServiceError)]
    assert len(ok) == 10 and len(throttled) == 30
    for err in throttled:
        assert (err.code, err.status, err.message, err.reason) == (
            "TooManyRequestsException",
            429,
            "Rate Exceeded.",
            "ReservedFunctionConcurrentInvocationLimitExceeded",
        )
    stats = manager.stats("capped")
    assert stats.peak_environments <= 10 and stats.peak_inflight <= 10
    assert stats.throttles == 30

    # Retried as a state machine's Retry would: every item eventually succeeds on <= 10 envs.
    pending = [i for i, r in enumerate(results) if isinstance(r, LambdaServiceError)]
    envs = {body(r)["env"] for r in ok}
    for _attempt in range(20):
        if not pending:
            break
        again = invoke_many(manager, spec, [{"id": i} for i in pending], qualifier="live")
        envs |= {body(r)["env"] for r in again if isinstance(r, InvokeResult)}
        pending = [
            i for i, r in zip(pending, again, strict=True) if isinstance(r, LambdaServiceError)
        ]
        time.sleep(0.1)
    assert not pending, "every throttled item succeeded on a retry"
    assert len(envs) <= 10 and manager.stats("capped").peak_environments <= 10


def test_account_limit_throttles_unreserved_functions(manager: EnvironmentManager) -> None:
    manager.set_account_limit(110)
    manager.set_reserved_concurrency("big", 100)  # leaves 10 for everyone else
    spec = make_spec("small", init_delay=0, work=0.5)
    results = invoke_many(manager, spec, [{"id": i} for i in range(14)])
    throttled = [r for r in results if isinstance(r, LambdaServiceError)]
    assert len(throttled) == 4
    assert {e.reason for e in throttled} == {"ConcurrentInvocationLimitExceeded"}


def test_provisioned_pool_whose_init_fails_is_failed_with_the_reason(
    manager: EnvironmentManager,
) -> None:
    spec = make_spec("pcfail", version="2", init_delay=0, env={"FAIL_AT_IMPORT": "no db"})
    manager.put_provisioned_concurrency(spec, "2", 2)
    _status, ready, reason = wait_status(manager, "pcfail", "2", "FAILED", timeout=30)
    assert ready == 0 and reason is not None and "RuntimeError: init exploded: no db" in reason
    manager.delete_provisioned_concurrency("pcfail", "2")
    assert manager.stats("pcfail").environments == 0


def test_resizing_and_deleting_a_provisioned_pool(manager: EnvironmentManager) -> None:
    spec = make_spec("resize", version="1", init_delay=0.1, work=0)
    manager.put_provisioned_concurrency(spec, "live", 3)
    wait_status(manager, "resize", "live", "READY", timeout=30)
    manager.put_provisioned_concurrency(spec, "live", 5)
    assert wait_status(manager, "resize", "live", "READY", timeout=30)[1] == 5
    manager.put_provisioned_concurrency(spec, "live", 2)
    assert wait_status(manager, "resize", "live", "READY", timeout=30)[1] == 2
    assert manager.stats("resize").environments == 2
    pids = manager.environment_pids("resize")
    manager.delete_provisioned_concurrency("resize", "live")
    assert_gone(pids)
    assert invoke(manager, spec, {}, qualifier="live").function_error is None
    assert manager.stats("resize").provisioned_invocations == 0


def test_a_provisioned_environment_that_dies_is_replaced(sink: MemorySink) -> None:
    mgr = EnvironmentManager(sink, idle_timeout_seconds=1.0)  # housekeeping every 0.25 s
    try:
        spec = make_spec("heal", version="1", init_delay=0.1, work=0)
        mgr.put_provisioned_concurrency(spec, "live", 2)
        wait_status(mgr, "heal", "live", "READY", timeout=30)
        before = mgr.environment_pids("heal")
        os.killpg(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = mgr.environment_pids("heal")
            if (
                len(now) == 2
                and before[0] not in now
                and mgr.provisioned_status("heal", "live")[1] == 2
            ):
                break
            time.sleep(0.05)
        assert len(now) == 2 and before[0] not in now, (before, now)
        assert mgr.provisioned_status("heal", "live") == ("READY", 2, None)
        docs = [body(r) for r in invoke_many(mgr, spec, [{"id": 1}, {"id": 2}], qualifier="live")]
        assert {d["initType"] for d in docs} == {"provisioned-concurrency"}
    finally:
        pids = mgr.environment_pids()
        mgr.shutdown()
        assert_gone(pids)
