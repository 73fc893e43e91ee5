"""Adapter for CloudWatch GetMetricData: Lambda's own counts of a run's minutes (AWS/Lambda).

The fifth source is not per call: CloudWatch sums whole minutes. One reply holds, per function,
Invocations, Throttles and ConcurrentExecutions on the ``FunctionName`` dimension and, for a
qualified target, ProvisionedConcurrencyInvocations and ProvisionedConcurrencySpilloverInvocations
on ``FunctionName`` + ``Resource`` (``name:qualifier``): FACTS.md "Lambda metrics".

WHY labels: a GetMetricData reply does not repeat the queries' dimensions, only their ``Id`` and
``Label``. :func:`metric_data_queries` labels each query ``"<MetricName> <function>[:<qualifier>]"``
so the reply alone says which function it counts, and a reply re-fetched later with the AWS CLI
(``aws cloudwatch get-metric-data --cli-input-json file://metric-data-request.json``) reads the
same. A label without a function (the CLI's default, the metric name) counts for the only run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pclab.analysis.model import MetricsView, SourceFormatError
from pclab.analysis.sources._common import as_float, is_mapping, paged_entries, split_function

NAMESPACE = "AWS/Lambda"
PERIOD_SECONDS = 60  # Lambda's metrics have 1-minute granularity


@dataclass(frozen=True)
class _Metric:
    query_id: str  # GetMetricData Id: ^[a-z][a-zA-Z0-9_]*$
    name: str
    stat: str  # Sum for counts, Maximum for the concurrency gauge
    field: str  # the MetricsView field it fills
    per_resource: bool  # FunctionName + Resource (name:qualifier) instead of FunctionName


METRICS = (
    _Metric("invocations", "Invocations", "Sum", "invocations", False),
    _Metric("throttles", "Throttles", "Sum", "throttles", False),
    _Metric("concurrency", "ConcurrentExecutions", "Maximum", "peak_concurrent_executions", False),
    _Metric("pc_invocations", "ProvisionedConcurrencyInvocations", "Sum", "served_by_pc", True),
    _Metric("spillover", "ProvisionedConcurrencySpilloverInvocations", "Sum", "spillover", True),
)
_BY_NAME = {metric.name: metric for metric in METRICS}
_BY_ID = {metric.query_id: metric for metric in METRICS}


def metric_data_queries(function_name: str, qualifier: str | None) -> list[dict[str, Any]]:
    """The GetMetricData ``MetricDataQueries`` of one target (PC metrics only with a qualifier)."""
    queries: list[dict[str, Any]] = []
    for metric in METRICS:
        dimensions = [{"Name": "FunctionName", "Value": function_name}]
        label = f"{metric.name} {function_name}"
        if metric.per_resource:
            if not qualifier:
                continue
            dimensions.append({"Name": "Resource", "Value": f"{function_name}:{qualifier}"})
            label += f":{qualifier}"
        queries.append(
            {
                "Id": metric.query_id,
                "Label": label,
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": metric.name,
                        "Dimensions": dimensions,
                    },
                    "Period": PERIOD_SECONDS,
                    "Stat": metric.stat,
                },
                "ReturnData": True,
            }
        )
    return queries


def _results(document: Any) -> list[Mapping[str, Any]]:
    return paged_entries(
        document,
        "MetricDataResults",
        'a GetMetricData reply {"MetricDataResults": [...]}',
        lambda r: is_mapping(r) and isinstance(r.get("Values", []), list),
        "a result has no 'Values' list: not a GetMetricData reply",
    )


def _which(result: Mapping[str, Any]) -> tuple[_Metric | None, str | None, str | None]:
    """(metric, function, qualifier) a result counts, from its label (else its Id)."""
    label = str(result.get("Label") or "").strip()
    name, _, reference = label.partition(" ")
    metric = _BY_NAME.get(name) or _BY_ID.get(str(result.get("Id") or ""))
    function, qualifier = split_function(reference.strip()) if reference.strip() else (None, None)
    return metric, function, qualifier


def parse_metric_data(document: Any) -> list[MetricsView]:
    """One view per function the reply counts; raises :class:`SourceFormatError` if none.

    A query in the reply without datapoints counts 0 (Lambda emits nothing for a minute without
    calls), a metric not in it stays ``None``; the peak is the largest minute's Maximum.
    """
    values: dict[str | None, dict[str, list[float]]] = {}
    qualifiers: dict[str | None, str] = {}
    for result in _results(document):
        metric, function, qualifier = _which(result)
        if metric is None:
            continue  # another query of the user's: not ours to read
        if qualifier:
            qualifiers.setdefault(function, qualifier)
        numbers = [as_float(v) for v in result.get("Values", [])]
        if any(n is None for n in numbers):
            raise SourceFormatError(f"result {result.get('Id')!r} has a value that is no number")
        values.setdefault(function, {}).setdefault(metric.field, []).extend(
            n for n in numbers if n is not None
        )
    if not values:
        raise SourceFormatError(
            "no AWS/Lambda result (expected labels such as 'Invocations <function>' or the "
            "Ids pclab asks for: " + ", ".join(_BY_ID) + ")"
        )
    views: list[MetricsView] = []
    for function, fields in values.items():
        counts: dict[str, int | None] = {}
        for metric in METRICS:
            found = fields.get(metric.field)
            if found is None:
                counts[metric.field] = None
            elif metric.stat == "Maximum":
                counts[metric.field] = round(max(found)) if found else None
            else:
                counts[metric.field] = round(sum(found))
        views.append(
            MetricsView(
                function_name=function,
                qualifier=qualifiers.get(function),
                invocations=counts["invocations"],
                throttles=counts["throttles"],
                spillover=counts["spillover"],
                served_by_pc=counts["served_by_pc"],
                peak_concurrent_executions=counts["peak_concurrent_executions"],
            )
        )
    return views
