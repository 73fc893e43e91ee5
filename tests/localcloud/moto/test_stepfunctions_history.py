"""Guards pclab/localcloud/moto/stepfunctions_history.py: GetExecutionHistory pages as on AWS."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from localcloud.cloud_helpers import Cloud, error_of
from localcloud.moto.guard import guard_tests
from pclab.localcloud.moto.stepfunctions_history import encode_token, page_of

PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    ("moto.stepfunctions.responses.StepFunctionResponse", "get_execution_history"): ["self"],
}

READ_INTERNALS = [
    ("moto.stepfunctions.responses", "StepFunctionResponse._get_param"),
    ("moto.core.responses", "ActionResult"),
    ("moto.stepfunctions.exceptions", "InvalidToken"),
    ("moto.stepfunctions.exceptions", "ValidationException"),
]

ROLE = "arn:aws:iam::123456789012:role/pager"
PASSES = {  # five Pass states: started, 5 * (entered, exited), succeeded = 12 events
    "StartAt": "P0",
    "States": {
        f"P{i}": {"Type": "Pass", **({"Next": f"P{i + 1}"} if i < 4 else {"End": True})}
        for i in range(5)
    },
}


test_patched_internal_keeps_its_shape, test_read_internal_exists = guard_tests(
    PATCHED_SIGNATURES, READ_INTERNALS
)


@pytest.fixture
def finished(cloud: Cloud) -> tuple[Any, str]:
    sfn = cloud.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"pager-{time.time_ns()}", definition=json.dumps(PASSES), roleArn=ROLE
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name="paged")["executionArn"]
    deadline = time.time() + 10
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.time() < deadline
        time.sleep(0.02)
    return sfn, arn


def read_all(sfn: Any, arn: str, **request: Any) -> list[list[int]]:
    """The event ids of every page, following nextToken."""
    pages: list[list[int]] = []
    token: dict[str, str] = {}
    while True:
        page = sfn.get_execution_history(executionArn=arn, **request, **token)
        pages.append([event["id"] for event in page["events"]])
        if "nextToken" not in page:
            return pages
        token = {"nextToken": page["nextToken"]}


def test_pages_of_max_results_newest_first_on_reverse_order(finished: tuple[Any, str]) -> None:
    sfn, arn = finished
    whole = read_all(sfn, arn, maxResults=1000)
    assert len(whole) == 1 and whole[0] == list(range(1, 13))
    assert read_all(sfn, arn, maxResults=5) == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12]]
    assert read_all(sfn, arn, maxResults=5, reverseOrder=True) == [
        [12, 11, 10, 9, 8],
        [7, 6, 5, 4, 3],
        [2, 1],
    ]
    # no maxResults: AWS's default page of 100 holds all 12
    assert read_all(sfn, arn) == [list(range(1, 13))]


def test_a_token_from_elsewhere_is_refused_as_on_aws(finished: tuple[Any, str]) -> None:
    sfn, arn = finished
    forward_token = encode_token("forward", 5)
    status, code, _ = error_of(
        lambda: sfn.get_execution_history(
            executionArn=arn, reverseOrder=True, nextToken=forward_token
        )
    )
    assert (status, code) == (400, "InvalidToken")
    status, code, _ = error_of(
        lambda: sfn.get_execution_history(executionArn=arn, nextToken="not-a-token")
    )
    assert (status, code) == (400, "InvalidToken")


def test_a_page_read_while_events_arrive_neither_skips_nor_repeats() -> None:
    events = [{"id": i} for i in range(1, 8)]
    first, token = page_of(events, reverse=True, max_results=3, token=None)
    assert [e["id"] for e in first] == [7, 6, 5]
    events += [{"id": 8}, {"id": 9}]  # the execution went on between the two reads
    second, token = page_of(events, reverse=True, max_results=3, token=token)
    third, token = page_of(events, reverse=True, max_results=3, token=token)
    assert [e["id"] for e in second + third] == [4, 3, 2, 1] and token is None
