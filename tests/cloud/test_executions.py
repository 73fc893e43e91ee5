"""Starting, following and judging executions, on moto's real Step Functions interpreter."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from botocore.stub import Stubber

from pclab.cloud import collect, executions
from pclab.cloud.aws import Clients
from pclab.cloud.input import generate
from pclab.cloud.stack import Target

from .conftest import FAILING_MACHINE, FAKE_RESULT_MACHINE, WAITING_MACHINE, create_machine


def target(arn: str, label: str = "reserved") -> Target:
    return Target(label, arn, "fn", "arn:aws:lambda:us-east-1:123456789012:function:fn:live")


def test_progress_counts_every_item_and_the_output_arrives(clients: Clients) -> None:
    arn = create_machine(clients, "Results", FAKE_RESULT_MACHINE)
    execution = executions.start(clients, target(arn), generate(7))
    seen: list[int] = []
    executions.wait(
        clients, [execution], poll_seconds=0.05, on_progress=lambda e: seen.append(e.done)
    )
    assert execution.status == "SUCCEEDED"
    assert execution.problem() is None
    assert (execution.succeeded, execution.failed) == (7, 0)
    assert seen == sorted(seen) and seen[-1] == 7
    assert execution.describe is not None and '"results"' in execution.describe["output"]
    assert execution.name.startswith("pclab-reserved-")


def test_failed_execution_is_one_line_with_error_and_cause(clients: Clients) -> None:
    arn = create_machine(clients, "Failing", FAILING_MACHINE)
    execution = executions.start(clients, target(arn), generate(2))
    executions.wait(clients, [execution], poll_seconds=0.05, timeout_seconds=20)
    assert execution.status == "FAILED"
    problem = execution.problem()
    assert problem == (
        f"the reserved execution {execution.name} failed: Pclab.TestError it broke on purpose"
    )


def test_interrupt_stops_what_is_still_running(clients: Clients) -> None:
    arn = create_machine(clients, "Waiting", WAITING_MACHINE)
    execution = executions.start(clients, target(arn), generate(1))
    executions.wait(clients, [execution], poll_seconds=0.05, timeout_seconds=0.2)
    assert execution.status == "RUNNING"  # the timeout returned without waiting 60 s
    assert executions.stop_unfinished(clients, [execution], "test") == []
    assert execution.status == "ABORTED"
    assert execution.problem() == f"the reserved execution {execution.name} was aborted"


def _event(event_id: int, kind: str) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "timestamp": datetime(2026, 1, 1, tzinfo=UTC)}


def test_history_is_read_newest_first_and_stops_at_what_was_seen(clients: Clients) -> None:
    """Two polls of a long history: the second reads one page, not all of them.

    The pages come from botocore's Stubber, so the order of the calls is checked exactly.
    """
    execution = executions.Execution(
        target=target("arn:aws:states:us-east-1:123456789012:stateMachine:M"),
        name="e",
        arn="arn:aws:states:us-east-1:123456789012:execution:M:e",
        items=3,
        started_at=0.0,
    )
    describe = {
        "executionArn": execution.arn,
        "stateMachineArn": execution.target.state_machine_arn,
        "status": "RUNNING",
        "startDate": datetime(2026, 1, 1, tzinfo=UTC),
    }
    request = {
        "executionArn": execution.arn,
        "reverseOrder": True,
        "maxResults": 100,
        "includeExecutionData": False,
    }
    with Stubber(clients.stepfunctions) as stub:
        stub.add_response("describe_execution", describe, {"executionArn": execution.arn})
        stub.add_response(
            "get_execution_history",
            {
                "events": [_event(5, "MapIterationSucceeded"), _event(4, "TaskSucceeded")],
                "nextToken": "older",
            },
            request,
        )
        stub.add_response(
            "get_execution_history",
            {
                "events": [
                    _event(3, "MapIterationFailed"),
                    _event(2, "MapIterationStarted"),
                    _event(1, "ExecutionStarted"),
                ]
            },
            {**request, "nextToken": "older"},
        )
        executions.poll(clients, execution)
        assert execution.poll_error is None
        assert (execution.succeeded, execution.failed) == (1, 1)
        # second poll: the newest page already reaches event 5, so no second page is asked for
        stub.add_response("describe_execution", describe, {"executionArn": execution.arn})
        stub.add_response(
            "get_execution_history",
            {
                "events": [
                    _event(7, "MapIterationSucceeded"),
                    _event(6, "TaskSucceeded"),
                    _event(5, "MapIterationSucceeded"),
                ],
                "nextToken": "older",
            },
            request,
        )
        executions.poll(clients, execution)
        assert execution.poll_error is None  # no page beyond the stubbed ones was asked for
        stub.assert_no_pending_responses()
    assert (execution.succeeded, execution.failed, execution.done) == (2, 1, 3)


def test_distributed_map_progress_comes_from_its_map_run(clients: Clients) -> None:
    definition = copy.deepcopy(FAKE_RESULT_MACHINE)
    definition["States"]["InvokeForEachItem"]["ItemProcessor"]["ProcessorConfig"] = {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    arn = create_machine(clients, "Distributed", definition)
    execution = executions.start(clients, target(arn), generate(6))
    executions.wait(clients, [execution], poll_seconds=0.05, timeout_seconds=30)
    assert execution.status == "SUCCEEDED"
    assert execution.map_run_arn is not None  # read from the MapRunStarted event
    assert (execution.succeeded, execution.failed) == (6, 0)  # DescribeMapRun's itemCounts
    # the parent's history has no per-item task events: the source says why it is absent
    history = collect.execution_history(clients, execution)
    assert not history.batch.provided
    assert "Distributed Map children" in (history.batch.note or "")


def test_an_expensive_history_is_read_less_often(clients: Clients) -> None:
    """A history read that took 1 s is not repeated within 10 s (progress must not slow the run);
    the end of the execution is still seen at once, and a success needs no history read."""
    execution = executions.Execution(
        target=target("arn:aws:states:us-east-1:123456789012:stateMachine:M"),
        name="e",
        arn="arn:aws:states:us-east-1:123456789012:execution:M:e",
        items=1,
        started_at=0.0,
    )
    running = {
        "executionArn": execution.arn,
        "stateMachineArn": execution.target.state_machine_arn,
        "status": "RUNNING",
        "startDate": datetime(2026, 1, 1, tzinfo=UTC),
    }
    with Stubber(clients.stepfunctions) as stub:
        stub.add_response("describe_execution", running, {"executionArn": execution.arn})
        stub.add_response("get_execution_history", {"events": [_event(1, "ExecutionStarted")]})
        executions.poll(clients, execution, history_every=0.5)
        execution.succeeded = 1  # an item done, as an earlier read would have counted
        execution._count_seconds = 1.0  # as if that read had taken a second
        stub.add_response("describe_execution", running, {"executionArn": execution.arn})
        executions.poll(clients, execution, history_every=0.5)  # describe only
        assert execution.poll_error is None
        stub.assert_no_pending_responses()
        ended = {**running, "status": "SUCCEEDED", "stopDate": datetime(2026, 1, 1, tzinfo=UTC)}
        stub.add_response("describe_execution", ended, {"executionArn": execution.arn})
        executions.poll(clients, execution, history_every=0.5)  # describe only, at once
        assert execution.poll_error is None
        stub.assert_no_pending_responses()
    assert execution.status == "SUCCEEDED" and execution.succeeded == 1  # all items done
