"""Guards pclab/localcloud/moto/stepfunctions_wait.py: a timestamp Wait ends at that UTC time."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from localcloud.cloud_helpers import Cloud
from localcloud.moto.guard import (
    assert_patched_internal_keeps_its_shape,
    assert_read_internal_exists,
)
from pclab.localcloud.moto.stepfunctions_wait import WAIT

PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    (f"{WAIT}.timestamp.Timestamp", "_eval_body"): ["self", "env"],
}

READ_INTERNALS = [
    (f"{WAIT}.timestamp", "Timestamp._from_timestamp_string"),
    (f"{WAIT}.timestamp", "Timestamp._create_failure_event"),
    (f"{WAIT}.timestamp", "TimestampPath"),
    (
        "moto.stepfunctions.parser.asl.component.common.error_name.failure_event",
        "FailureEventException",
    ),
    ("moto.stepfunctions.parser.asl.eval.environment", "Environment.is_running"),
]

ROLE = "arn:aws:iam::123456789012:role/waiter"
DEFINITION = {
    "StartAt": "Until",
    "States": {"Until": {"Type": "Wait", "TimestampPath": "$.at", "End": True}},
}


def test_what_the_patch_replaces_and_reads_is_still_there(cloud: Cloud) -> None:
    for key, expected in PATCHED_SIGNATURES.items():
        assert_patched_internal_keeps_its_shape(key, expected)
    for module, attribute in READ_INTERNALS:
        assert_read_internal_exists(module, attribute)


@pytest.fixture
def east_of_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's clock five hours east of UTC (moto's own wait read local time as UTC)."""
    monkeypatch.setenv("TZ", "Etc/GMT-5")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def waited(cloud: Cloud, at: str) -> tuple[float, dict[str, object]]:
    """Seconds from now until an execution waiting until ``at`` ended, and its description."""
    sfn = cloud.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"waiter-{time.time_ns()}", definition=json.dumps(DEFINITION), roleArn=ROLE
    )["stateMachineArn"]
    started = time.time()
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"at": at}))
    while True:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING" or time.time() - started > 10:
            return time.time() - started, described
        time.sleep(0.02)


def test_a_wait_until_a_utc_time_ends_at_that_second_on_any_clock(
    cloud: Cloud, east_of_utc: None
) -> None:
    deadline = math.ceil(time.time()) + 2
    at = datetime.fromtimestamp(deadline, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _, described = waited(cloud, at)
    assert described["status"] == "SUCCEEDED", described
    ended = described["stopDate"].timestamp()
    # not skipped (a local clock read as UTC), not a second early (whole seconds truncated)
    assert deadline <= ended < deadline + 0.5, ended - deadline


def test_a_time_already_passed_goes_on_at_once_and_a_bad_one_fails(cloud: Cloud) -> None:
    seconds, described = waited(cloud, "2020-01-01T00:00:00Z")
    assert described["status"] == "SUCCEEDED" and seconds < 1.0
    _, described = waited(cloud, "tomorrow")
    assert described["status"] == "FAILED" and described["error"] == "States.Runtime"
    assert "TimestampPath" in str(described.get("cause")), described
