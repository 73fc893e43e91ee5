"""The fifth source's collector: whole minutes of the run, polled until CloudWatch has counted the
calls, and an honest note when AWS has not published them yet (they arrive minutes late).

A stand-in CloudWatch that publishes late: the collector's own polling, paging and notes run;
the real local cloud's metrics are read end to end in test_e2e_local_cloud.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from pclab.cloud.aws import Clients
from pclab.cloud.collect import PollPolicy
from pclab.cloud.collect_metrics import REPLY_FILE, REQUEST_FILE, metrics, minute_window
from pclab.cloud.stack import Target

TARGET = Target(
    "provisioned",
    "arn:aws:states:us-east-1:123456789012:stateMachine:PcMachine",
    "PcFunction",
    "arn:aws:lambda:us-east-1:123456789012:function:PcFunction:live",
)
START = datetime(2025, 11, 24, 16, 0, 30, tzinfo=UTC).timestamp()
END = datetime(2025, 11, 24, 16, 2, 10, tzinfo=UTC).timestamp()


class LateCloudWatch:
    """Answers GetMetricData with no datapoints until ``publish_after`` calls were made, then
    with ``counts`` (query Id -> value) in two pages, as CloudWatch pages a long reply."""

    def __init__(self, counts: dict[str, float], publish_after: int) -> None:
        self.counts, self.publish_after, self.calls = counts, publish_after, 0

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        published = self.calls > self.publish_after
        page = 2 if request.get("NextToken") else 1
        results = []
        for query in request["MetricDataQueries"]:
            value = self.counts.get(query["Id"], 0.0)
            half = value if query["MetricStat"]["Stat"] == "Maximum" else value / 2
            results.append(
                {
                    "Id": query["Id"],
                    "Label": query["Label"],
                    "Timestamps": [request["StartTime"]] if published else [],
                    "Values": [half] if published else [],
                    "StatusCode": "Complete",
                }
            )
        if published and page == 1:
            self.calls -= 1  # the second page is the same poll
            return {"MetricDataResults": results, "NextToken": "page-2"}
        return {"MetricDataResults": results}


def clients(cloudwatch: LateCloudWatch) -> Clients:
    return cast(Clients, SimpleNamespace(cloudwatch=cloudwatch))


def test_the_window_is_the_runs_whole_minutes_and_one_more() -> None:
    start, end = minute_window((START, END))
    assert start == datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
    assert end == datetime(2025, 11, 24, 16, 4, tzinfo=UTC)


def test_late_metrics_are_waited_for_until_every_call_is_counted() -> None:
    late = LateCloudWatch(
        {"invocations": 8, "throttles": 2, "concurrency": 4, "pc_invocations": 4, "spillover": 4},
        publish_after=2,
    )
    slept: list[float] = []
    counted: list[int] = []
    collected = metrics(
        clients(late),
        TARGET,
        (START, END),
        8,
        PollPolicy(deadline_seconds=30, settle_seconds=1, interval_seconds=5),
        sleep=slept.append,
        on_poll=counted.append,
    )
    view = collected.view
    assert view.provided and view.note is None
    assert (view.invocations, view.throttles, view.spillover, view.served_by_pc) == (8, 2, 4, 4)
    assert view.peak_concurrent_executions == 4
    assert view.run == "PcMachine"
    # no settling on a count that stopped at zero: polled until the minutes were published
    assert counted == [0, 0, 8] and slept == [5, 5]
    request = collected.raw[f"raw/PcMachine/{REQUEST_FILE}"]
    assert request["StartTime"] == "2025-11-24T16:00:00+00:00"
    spillover = next(q for q in request["MetricDataQueries"] if q["Id"] == "spillover")
    assert {"Name": "Resource", "Value": "PcFunction:live"} in (
        spillover["MetricStat"]["Metric"]["Dimensions"]
    )
    assert len(collected.raw[f"raw/PcMachine/{REPLY_FILE}"]["MetricDataResults"][0]["Values"]) == 2


def test_metrics_not_published_by_the_deadline_are_absent_with_how_to_get_them_later() -> None:
    late = LateCloudWatch({"invocations": 8}, publish_after=1000)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    collected = metrics(
        clients(late),
        TARGET,
        (START, END),
        8,
        PollPolicy(deadline_seconds=3, settle_seconds=1, interval_seconds=1),
        sleep=sleep,
        clock=lambda: now[0],
    )
    assert late.calls == 4  # at 0, 1, 2 and 3 s: the deadline ended the wait
    view = collected.view
    assert not view.provided
    assert view.note is not None
    assert "had not arrived after 3 s" in view.note
    assert f"file://raw/PcMachine/{REQUEST_FILE}" in view.note
    assert "pclab analyze --metrics" in view.note
    assert f"raw/PcMachine/{REQUEST_FILE}" in collected.raw  # the query to run later is saved
