"""Guards pclab/localcloud/moto/stepfunctions_metrics.py: AWS/States execution metrics over HTTP.

moto emits no AWS/States metric; after executions that succeed, fail and are stopped,
``get-metric-statistics`` must count each in its metric (Sum) for the state machine's ARN, and
ExecutionTime must be each closed execution's duration in milliseconds.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from localcloud.cloud_helpers import Cloud
from pclab.localcloud.states_metrics import CLOSE_METRICS, StatesMetrics, state_machine_arn

ROLE = "arn:aws:iam::123456789012:role/metrics"


def test_what_the_metrics_read_is_still_there() -> None:
    """A parser Execution's fields read when it starts and closes, and the statuses it closes
    with (each must have its metric)."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution

    assert {"exec_arn", "exec_status", "start_date", "stop_date"} <= set(Execution.__annotations__)
    closing = {status.value for status in ExecutionStatus} - {"RUNNING", "PENDING_REDRIVE"}
    assert closing == set(CLOSE_METRICS)


def _machine(cloud: Cloud, states: dict[str, Any]) -> str:
    first = next(iter(states))
    arn: str = cloud.client("stepfunctions").create_state_machine(
        name=f"metrics-{time.time_ns()}",
        definition=json.dumps({"StartAt": first, "States": states}),
        roleArn=ROLE,
    )["stateMachineArn"]
    return arn


def _run(cloud: Cloud, machine: str, *, stop: bool = False) -> dict[str, Any]:
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    if stop:
        sfn.stop_execution(executionArn=arn)
    deadline = time.time() + 10
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.time() > deadline:
            return described
        time.sleep(0.02)


def _sum(cloud: Cloud, machine: str, name: str, stat: str = "Sum") -> float | None:
    now = datetime.now(UTC)
    points = cloud.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/States",
        MetricName=name,
        Dimensions=[{"Name": "StateMachineArn", "Value": machine}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=3600,
        Statistics=[stat],
    )["Datapoints"]
    return float(sum(p[stat] for p in points)) if points else None


def test_executions_are_counted_in_aws_states(cloud: Cloud) -> None:
    ok = _machine(cloud, {"Nap": {"Type": "Wait", "Seconds": 1, "End": True}})
    described = _run(cloud, ok)
    assert described["status"] == "SUCCEEDED"
    assert _sum(cloud, ok, "ExecutionsStarted") == 1
    assert _sum(cloud, ok, "ExecutionsSucceeded") == 1
    assert _sum(cloud, ok, "ExecutionsFailed") is None
    took_ms = (described["stopDate"] - described["startDate"]).total_seconds() * 1000
    assert _sum(cloud, ok, "ExecutionTime", "SampleCount") == 1
    elapsed = _sum(cloud, ok, "ExecutionTime", "Average")
    assert elapsed is not None and elapsed >= 1000 and abs(elapsed - took_ms) < 50

    failing = _machine(cloud, {"Boom": {"Type": "Fail", "Error": "E"}})
    assert _run(cloud, failing)["status"] == "FAILED"
    assert _sum(cloud, failing, "ExecutionsFailed") == 1
    assert _sum(cloud, failing, "ExecutionsSucceeded") is None

    waiting = _machine(cloud, {"Long": {"Type": "Wait", "Seconds": 30, "End": True}})
    assert _run(cloud, waiting, stop=True)["status"] == "ABORTED"
    assert _sum(cloud, waiting, "ExecutionsAborted") == 1
    assert _sum(cloud, waiting, "ExecutionsStarted") == 1

    listed = cloud.client("cloudwatch").list_metrics(
        Namespace="AWS/States", Dimensions=[{"Name": "StateMachineArn", "Value": ok}]
    )["Metrics"]
    assert {m["MetricName"] for m in listed} == {
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionTime",
    }


def test_the_aggregator_names_the_state_machine_and_counts_by_minute() -> None:
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:sm"
    assert state_machine_arn("arn:aws:states:us-east-1:123456789012:execution:sm:run") == machine
    assert state_machine_arn("arn:aws:states:us-east-1:123456789012:express:sm:run:1") == machine
    assert state_machine_arn("arn:aws:lambda:us-east-1:123456789012:function:f") is None
    now = [120.0]
    metrics = StatesMetrics(clock=lambda: now[0])
    metrics.started("arn:aws:states:us-east-1:123456789012:execution:sm:a")
    now[0] = 185.0
    metrics.closed("arn:aws:states:us-east-1:123456789012:execution:sm:a", "TIMED_OUT", 65_000.0)
    metrics.closed("arn:aws:states:us-east-1:123456789012:execution:sm:b", "RUNNING", None)
    found = {(d.name, d.minute, d.unit, d.stat.total) for d in metrics.datums()}
    assert found == {
        ("ExecutionsStarted", 120, "Count", 1.0),
        ("ExecutionsTimedOut", 180, "Count", 1.0),
        ("ExecutionTime", 180, "Milliseconds", 65_000.0),
    }
