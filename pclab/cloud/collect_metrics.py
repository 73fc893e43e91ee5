"""Collect the fifth source: Lambda's CloudWatch metrics over the run's minutes (issue 12).

One GetMetricData call per target (all pages) asks for the counts
:func:`pclab.analysis.sources.metrics.metric_data_queries` names, over whole minutes from the
first start's minute to one minute past the last end's (Period=60: a minute's datum counts the
calls that began in it). Both the request and the reply are saved under ``raw/``: the request is
what ``aws cloudwatch get-metric-data --cli-input-json`` takes, so the metrics can be fetched
again later and given to ``pclab analyze --metrics``.

On AWS the metrics arrive a few minutes after the calls, so the collector polls with the other
late sources' :class:`~pclab.cloud.collect.PollPolicy` until the Invocations reach the calls the
execution output saw. It does not stop on a count that stopped growing (minutes arrive whole, a
minute apart): only the deadline ends the wait, with what came, or with a note saying how to
fetch them later when nothing came.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pclab.analysis.model import MetricsView, SourceFormatError
from pclab.analysis.sources.metrics import metric_data_queries, parse_metric_data
from pclab.cloud.aws import Clients, pages
from pclab.cloud.collect import PollPolicy, Sleep, jsonable, poll_until_settled
from pclab.cloud.errors import describe_aws_error, error_code
from pclab.cloud.stack import Target

MINUTE = 60.0
REQUEST_FILE = "metric-data-request.json"
REPLY_FILE = "metric-data.json"


@dataclass
class MetricsCollected:
    """One target's metric view and the raw documents behind it (saved under ``raw/``)."""

    view: MetricsView
    raw: dict[str, Any]  # relative file name -> JSON-able document


def minute_window(window: tuple[float, float]) -> tuple[datetime, datetime]:
    """Floor of the first start's minute .. ceiling of the last end's minute plus one minute."""
    start = math.floor(window[0] / MINUTE) * MINUTE
    end = math.ceil(window[1] / MINUTE) * MINUTE + MINUTE
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)


def get_metric_data(clients: Clients, request: dict[str, Any]) -> dict[str, Any]:
    """Every page of GetMetricData, each query's datapoints joined into one result."""
    merged: dict[str, dict[str, Any]] = {}
    messages: list[Any] = []
    for page in pages(clients.cloudwatch.get_metric_data, request, token="NextToken"):
        for result in page.get("MetricDataResults", []):
            known = merged.setdefault(result["Id"], {**result, "Timestamps": [], "Values": []})
            known["Timestamps"].extend(result.get("Timestamps", []))
            known["Values"].extend(result.get("Values", []))
            known["StatusCode"] = result.get("StatusCode", known.get("StatusCode"))
        messages.extend(page.get("Messages", []))
    return {"MetricDataResults": list(merged.values()), "Messages": messages}


def metrics(
    clients: Clients,
    target: Target,
    window: tuple[float, float],
    expected_calls: int | None,
    policy: PollPolicy,
    *,
    sleep: Sleep = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_poll: Callable[[int], None] | None = None,
) -> MetricsCollected:
    """The target's metric view over the run's minutes, polled until the calls are counted."""
    start, end = minute_window(window)
    request: dict[str, Any] = {
        "MetricDataQueries": metric_data_queries(target.function_name, target.qualifier),
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    folder = f"raw/{target.run_name}"
    origin = f"GetMetricData AWS/Lambda {target.function_name}"
    state: dict[str, Any] = {"reply": None, "error": None, "views": []}

    def fetch() -> tuple[int, bool]:
        try:
            reply = get_metric_data(clients, dict(request))
        except (ClientError, BotoCoreError) as error:
            state["error"] = describe_aws_error(error, "reading CloudWatch metrics")
            code = error_code(error) if isinstance(error, ClientError) else ""
            return 0, code in ("AccessDenied", "AccessDeniedException", "InvalidParameterValue")
        state.update(reply=reply, error=None)
        views = parse_metric_data(reply)
        state["views"] = views
        counted = sum(v.invocations or 0 for v in views)
        return counted, expected_calls is not None and counted >= expected_calls

    # minutes arrive whole and a minute apart: a count that stopped growing is no sign of the
    # end, so with a known goal only the goal or the deadline ends the wait
    wait = policy if expected_calls is None else replace(policy, settle_seconds=math.inf)
    try:
        poll_until_settled(fetch, wait, sleep=sleep, clock=clock, on_poll=on_poll)
    except SourceFormatError as error:  # our own queries' reply: not expected, said if it comes
        state["error"] = f"unreadable GetMetricData reply: {error}"
    raw = {f"{folder}/{REQUEST_FILE}": jsonable(request)}
    if state["reply"] is not None:
        raw[f"{folder}/{REPLY_FILE}"] = jsonable(state["reply"])
    views: list[MetricsView] = state["views"]
    absent = MetricsView(
        function_name=target.function_name,
        qualifier=target.qualifier,
        run=target.run_name,
        provided=False,
        origin=origin,
    )
    if state["error"] or not views:
        return MetricsCollected(replace(absent, note=state["error"] or "no reply"), raw)
    view = replace(views[0], run=target.run_name, origin=origin)
    counted = view.invocations or 0
    later = (
        f"fetch them later with `aws cloudwatch get-metric-data --cli-input-json "
        f"file://{folder}/{REQUEST_FILE}` and give the reply to `pclab analyze --metrics`"
    )
    if expected_calls and counted == 0:
        note = (
            f"CloudWatch metrics had not arrived after {policy.deadline_seconds:.0f} s (AWS "
            f"publishes them a few minutes late): {later}"
        )
        return MetricsCollected(replace(absent, note=note), raw)
    if expected_calls and counted < expected_calls:
        note = (
            f"{counted} of {expected_calls} invocations counted after "
            f"{policy.deadline_seconds:.0f} s (the rest may still arrive): {later}"
        )
        view = replace(view, note=note)
    return MetricsCollected(view, raw)
