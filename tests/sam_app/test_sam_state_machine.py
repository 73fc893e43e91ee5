"""The state machine definition, executed by moto's Step Functions interpreter.

The local cloud runs this exact definition with moto's interpreter, so these tests check that the
interpreter accepts every construct it uses (Pass with an intrinsic, MaxConcurrencyPath,
ItemSelector, ItemProcessor, ResultSelector, Retry with JitterStrategy, Catch) and that the
output has the contract's shape. moto cannot run Lambda code without Docker, so the one function
through which every Lambda task goes is pointed at the real handler module, loaded once per
simulated execution environment (an idle environment is reused, else a new one is "cold started").
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from .handler_harness import FUNCTIONS_DIR, FakeLambdaContext
from .sam_offline import substitute_definition

ALIAS_ARN = "arn:aws:lambda:us-east-1:123456789012:function:pclab-Provisioned-1:live"
ROLE_ARN = "arn:aws:iam::123456789012:role/pclab-state-machine"


@dataclass
class FakeLambda:
    """Runs each invoke in an idle environment (a loaded handler module) or loads a new one."""

    monkeypatch: pytest.MonkeyPatch
    throttle_once: set[int] = field(default_factory=set)  # item ids whose first invoke gets a 429
    # When set, every invoke waits until this many are in flight at once (or fails on timeout).
    barrier: threading.Barrier | None = None
    function_names: list[str] = field(default_factory=list)
    attempts: dict[int, int] = field(default_factory=dict)
    invoked_at: dict[int, float] = field(default_factory=dict)  # item id -> first invoke (epoch)
    running: int = 0
    peak: int = 0
    idle: list[ModuleType] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _new_environment(self) -> ModuleType:
        name = f"concurrencytest_env_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, FUNCTIONS_DIR / "concurrencytest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def invoke(self, parameters: dict[str, Any], region: str, state_credentials: Any) -> Any:
        event = json.loads(parameters["Payload"])
        item_id = event["item"]["id"]
        with self.lock:
            self.function_names.append(parameters["FunctionName"])
            self.attempts[item_id] = self.attempts.get(item_id, 0) + 1
            self.invoked_at.setdefault(item_id, time.time())
            if item_id in self.throttle_once and self.attempts[item_id] == 1:
                raise ClientError(
                    {
                        "Error": {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."},
                        "ResponseMetadata": {
                            "HTTPStatusCode": 429,
                            "RequestId": "r",
                            "HTTPHeaders": {},
                            "HostId": "",
                            "RetryAttempts": 0,
                        },
                    },
                    "Invoke",
                )
            environment = self.idle.pop() if self.idle else None
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            if self.barrier is not None:
                self.barrier.wait(timeout=20)
            if environment is None:
                environment = self._new_environment()
            try:
                payload = environment.lambda_handler(event, FakeLambdaContext())
                return {"StatusCode": 200, "Payload": payload, "ExecutedVersion": "1"}
            except Exception as error:
                return {
                    "StatusCode": 200,
                    "FunctionError": "Unhandled",
                    "Payload": {"errorType": type(error).__name__, "errorMessage": str(error)},
                }
        finally:
            with self.lock:
                self.running -= 1
                if environment is not None:
                    self.idle.append(environment)


@pytest.fixture
def fake_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLambda]:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    monkeypatch.setenv("COLD_START_DELAY", "0.1")
    monkeypatch.setenv("FUNCTION_DURATION", "0.2")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    fake = FakeLambda(monkeypatch)
    monkeypatch.setattr(lambda_eval_utils, "_invoke_lambda_function", fake.invoke)
    yield fake


def execute(
    max_concurrency: str, items: list[dict[str, Any]], load_mode: str = "INLINE"
) -> dict[str, Any]:
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        definition = substitute_definition(
            {
                "FunctionAliasArn": ALIAS_ARN,
                "MapMaxConcurrency": max_concurrency,
                "LoadMode": load_mode,
            }
        )
        # moto's ASL grammar knows only STANDARD child executions; both run the same way in its
        # interpreter. (The local cloud maps EXPRESS the same way:
        # pclab/localcloud/moto/stepfunctions.py.)
        definition = definition.replace('"ExecutionType": "EXPRESS"', '"ExecutionType": "STANDARD"')
        machine = sfn.create_state_machine(name="sm", definition=definition, roleArn=ROLE_ARN)
        execution = sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"],
            name="run-1",
            input=json.dumps({"items": items}),
        )
        deadline = time.monotonic() + 60
        while True:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        map_runs = sfn.list_map_runs(executionArn=execution["executionArn"])["mapRuns"]
    assert described["status"] == "SUCCEEDED", described
    # the Choice took the Map of the load mode asked for (a Distributed Map starts a Map Run)
    kinds = {event["type"] for event in history}
    assert ("MapRunStarted" in kinds) == (load_mode == "DISTRIBUTED") == (len(map_runs) == 1)
    output: dict[str, Any] = json.loads(described["output"])
    return output


def test_every_item_gets_a_small_result_in_item_order(fake_lambda: FakeLambda) -> None:
    # MaxConcurrency 0: all six run at once (the barrier fails the invokes if they cannot).
    fake_lambda.barrier = threading.Barrier(6)
    output = execute("0", [{"id": n} for n in range(1, 7)])
    results = output["results"]
    assert list(output) == ["results"]
    assert [r["id"] for r in results] == [1, 2, 3, 4, 5, 6]
    for result in results:
        assert set(result) == {
            "id",
            "req",
            "env",
            "first",
            "initType",
            "initMs",
            "start",
            "end",
            "ver",
        }
        assert result["initType"] == "unknown" and result["ver"] == "7"
        assert result["end"] - result["start"] >= 0.2 - 0.002
    # All six at once, so six environments, each on its first invocation.
    assert fake_lambda.peak == 6
    assert len({r["env"] for r in results}) == 6 and all(r["first"] for r in results)
    assert set(fake_lambda.function_names) == {ALIAS_ARN}


def test_a_distributed_map_gives_the_same_results_with_every_item_at_once(
    fake_lambda: FakeLambda,
) -> None:
    # 50 items, more than an inline Map's 40: all at once (the barrier fails them otherwise)
    fake_lambda.barrier = threading.Barrier(50)
    output = execute("0", [{"id": n} for n in range(1, 51)], load_mode="DISTRIBUTED")
    assert list(output) == ["results"]
    results = output["results"]
    assert [r["id"] for r in results] == list(range(1, 51))
    assert all(set(r) == {"id", "req", "env", "first", "initType", "initMs", "start", "end", "ver"}
               for r in results)  # fmt: skip
    assert fake_lambda.peak == 50
    assert set(fake_lambda.function_names) == {ALIAS_ARN}


@pytest.mark.parametrize("load_mode", ["INLINE", "DISTRIBUTED"])
def test_max_concurrency_from_the_substitution_limits_the_map(
    fake_lambda: FakeLambda, load_mode: str
) -> None:
    results = execute("2", [{"id": n} for n in range(1, 7)], load_mode=load_mode)["results"]
    assert fake_lambda.peak <= 2
    # At most two environments did all the work: one cold start each, then warm reuse.
    environments = {r["env"] for r in results}
    assert len(environments) <= 2
    assert sum(r["first"] for r in results) == len(environments)


@pytest.mark.parametrize("load_mode", ["INLINE", "DISTRIBUTED"])
def test_items_with_start_after_seconds_arrive_that_many_seconds_later(
    fake_lambda: FakeLambda, load_mode: str
) -> None:
    """Arrival-shaped load: the iteration waits startAfterSeconds, then invokes; no offset = now."""
    items: list[dict[str, Any]] = [
        {"id": 1},
        {"id": 2, "startAfterSeconds": 0},
        {"id": 3, "startAfterSeconds": 1},
        {"id": 4, "startAfterSeconds": 2},
    ]
    results = execute("0", items, load_mode=load_mode)["results"]
    assert [r["id"] for r in results] == [1, 2, 3, 4]
    start = fake_lambda.invoked_at  # when the task invoked, not when the (cold) handler began
    first = min(start.values())
    assert start[1] - first < 0.5 and start[2] - first < 0.5
    # never early; how late depends on this machine (moto's interpreter threads beside the
    # fake Lambda's first calls, which import aws-xray-sdk: 3.7 s late at a load of 5, and items
    # 3 and 4 once woke together), so only a gross error (a wait counted twice) fails late
    assert 1.0 <= start[3] - first < 8.0
    assert 2.0 <= start[4] - first < 9.0


@pytest.mark.parametrize("load_mode", ["INLINE", "DISTRIBUTED"])
def test_items_with_start_at_arrive_at_that_time_whatever_their_start_after_seconds(
    fake_lambda: FakeLambda, load_mode: str
) -> None:
    """pclab run stamps startAt (absolute, UTC) on items with offsets: the Wait goes by it."""
    deadline = math.ceil(time.time()) + 2
    items: list[dict[str, Any]] = [
        {"id": 1},
        {"id": 2, "startAfterSeconds": 30, "startAt": "2020-01-01T00:00:00Z"},
        {"id": 3, "startAfterSeconds": 30, "startAt": stamp(deadline)},
    ]
    # moto's own interpreter reads its local clock as UTC (the local cloud's doesn't:
    # tests/localcloud/moto/test_stepfunctions_wait.py), so this machine's clock is put on UTC
    with pytest.MonkeyPatch.context() as clock:
        clock.setenv("TZ", "UTC")
        time.tzset()
        results = execute("0", items, load_mode=load_mode)["results"]
    time.tzset()
    assert [r["id"] for r in results] == [1, 2, 3]
    start = fake_lambda.invoked_at
    # a time already passed goes on at once, not startAfterSeconds later
    assert start[2] - start[1] < 0.5
    # moto's own wait counts whole seconds down from a fractional now, so it may wake up to a
    # second early (the local cloud waits to the second: the test named above)
    assert deadline - 1.0 <= start[3] < deadline + 1.0, start[3] - deadline


def stamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_throttled_invoke_is_retried(fake_lambda: FakeLambda) -> None:
    fake_lambda.throttle_once = {2}
    results = execute("0", [{"id": 1}, {"id": 2}])["results"]
    assert fake_lambda.attempts == {1: 1, 2: 2}
    assert [set(r) >= {"req", "env"} for r in results] == [True, True]


@pytest.mark.parametrize("load_mode", ["INLINE", "DISTRIBUTED"])
def test_a_failing_item_records_its_error_and_keeps_the_others(
    fake_lambda: FakeLambda, load_mode: str
) -> None:
    items: list[dict[str, Any]] = [{"id": 1}, {"id": 2, "durationSeconds": "slow"}, {"id": 3}]
    results = execute("0", items, load_mode=load_mode)["results"]
    assert [r["id"] for r in results] == [1, 2, 3]
    assert "req" in results[0] and "req" in results[2]
    failure = results[1]
    assert set(failure) == {"id", "error"}
    assert failure["error"]["Error"] == "InvalidItemError"
    assert (
        "durationSeconds='slow' is not a number"
        in json.loads(failure["error"]["Cause"])["errorMessage"]
    )
