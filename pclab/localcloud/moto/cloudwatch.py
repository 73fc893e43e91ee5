"""CloudWatch: Lambda's and Step Functions' metrics in moto's CloudWatch backend, and AWS's rules
for reading them.

moto 5.2.5 has a CloudWatch backend (PutMetricData, GetMetricStatistics, GetMetricData,
ListMetrics) but nothing emits Lambda's metrics into it (FACTS.md, "Lambda metrics"). The
execution environments aggregate them per minute
(:class:`pclab.localcloud.environments.metrics.LambdaMetrics`); this module serves those
aggregates as moto datums, computed when somebody reads them, so the invoke path never creates a
moto object.

moto internals read or patched, and why:

* ``moto.core.common_models.CloudWatchMetricProvider``: moto asks every subclass for the metrics
  it "emits" (``get_cloudwatch_metrics(account_id, region)``) on each read through
  ``CloudWatchBackend.aws_metric_data``; our subclass answers with Lambda's datums. This is
  moto's own extension point (its S3 backend uses it), not a patch.
* ``moto.cloudwatch.models.MetricAggregatedDatum`` (a StatisticSet datum) and ``Statistics`` (one
  period's statistics), built as moto builds them.
* ``CloudWatchBackend.get_metric_statistics`` (patched): moto matches dimensions as a subset,
  so asking for ``FunctionName=f`` also sums the ``FunctionName+Resource`` series, and a query
  without dimensions sums every series. CloudWatch matches the dimension set exactly; we do too,
  align periods on the clock (a minute's datapoint is stamped at the minute), and answer
  ``ExtendedStatistics`` (p50, p99, ...) from the values where we have them.
* ``CloudWatchBackend.get_metric_data`` (patched): the same exact matching for ``MetricStat``
  queries, and ``pNN`` stats; metric math and Metrics Insights queries stay moto's.
* ``moto.cloudwatch.responses.CloudWatchResponse.get_metric_statistics`` (patched): moto reads
  ``ExtendedStatistics`` only to check that some statistic was asked for and never hands them to
  the backend; ours hands both lists over.

Lambda's metrics are served in every region of the account (the local cloud runs one Lambda):
on AWS they are in the function's region only. Step Functions' execution metrics (``AWS/States``,
:mod:`.stepfunctions_metrics`) are served the same way, beside them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pclab.localcloud.moto._patching import _installed, _patch

MetricsSource = Callable[[], list[Any]]  # () -> [minute_stat.Datum]


def _percentile(values: list[float], stat: str) -> float | None:
    """CloudWatch's pNN over raw values (nearest rank); None when there are none."""
    if not values:
        return None
    q = float(stat[1:]) / 100.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _is_percentile(stat: str) -> bool:
    if not stat.startswith("p"):
        return False
    try:
        return 0.0 <= float(stat[1:]) <= 100.0
    except ValueError:
        return False


def _values(data: Iterable[Any]) -> list[float]:
    """Raw values of a period: single datums' values plus those our aggregates carry."""
    out: list[float] = []
    for datum in data:
        if hasattr(datum, "value"):
            out.append(float(datum.value))
        out.extend(getattr(datum, "values", ()))
    return out


def _same_dimensions(datum: Any, wanted: list[tuple[str, str]]) -> bool:
    return sorted((d.name, d.value) for d in datum.dimensions) == wanted


def _period_start(ts: datetime, period: int) -> datetime:
    epoch = ts.timestamp()
    return datetime.fromtimestamp(epoch - epoch % period, tz=UTC)


def _as_utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _select(
    backend: Any,
    namespace: str,
    name: str,
    dimensions: list[dict[str, str]],
    start: datetime,
    end: datetime,
    unit: str | None,
) -> list[Any]:
    wanted = sorted((d["Name"], d.get("Value", "")) for d in dimensions)
    start, end = _as_utc(start), _as_utc(end)
    return [
        md
        for md in backend.get_all_metrics()
        if md.namespace == namespace
        and md.name == name
        and start <= _as_utc(md.timestamp) < end
        and (unit is None or md.unit == unit)
        and _same_dimensions(md, wanted)
    ]


def _periods(data: list[Any], period: int) -> dict[datetime, list[Any]]:
    buckets: dict[datetime, list[Any]] = {}
    for md in sorted(data, key=lambda d: _as_utc(d.timestamp)):
        buckets.setdefault(_period_start(_as_utc(md.timestamp), period), []).append(md)
    return buckets


def _install_cloudwatch() -> None:
    from moto.cloudwatch.models import CloudWatchBackend, MetricAggregatedDatum, Statistics
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.common_models import CloudWatchMetricProvider

    class LambdaMetricsProvider(CloudWatchMetricProvider):
        """Lambda's and Step Functions' metrics of the running local cloud, in every region."""

        @staticmethod
        def get_cloudwatch_metrics(account_id: str, region: str) -> list[Any]:
            if not _installed.get("active"):
                return []
            source: MetricsSource | None = _installed.get("metrics")
            states = _installed.get("states_metrics")
            found = [
                *(source() if source is not None else ()),
                *(states.datums() if states is not None else ()),
            ]
            out = []
            for d in found:
                datum = MetricAggregatedDatum(
                    namespace=d.namespace,
                    name=d.name,
                    min_stat=d.stat.minimum,
                    max_stat=d.stat.maximum,
                    sample_count=d.stat.count,
                    sum_stat=d.stat.total,
                    dimensions=[{"Name": k, "Value": v} for k, v in d.dimensions],
                    # naive UTC, as moto keeps every timestamp (and compares them)
                    timestamp=datetime.fromtimestamp(d.minute, tz=UTC).replace(tzinfo=None),
                    unit=d.unit,
                )
                datum.values = d.stat.values  # type: ignore[attr-defined]
                out.append(datum)
            return out

    class PeriodStatistics(Statistics):
        """moto's Statistics plus ExtendedStatistics (percentiles) where values exist."""

        def __init__(self, stats: list[str], extended: list[str], dt: datetime, unit: Any):
            super().__init__(stats, dt, unit)
            self.extended = extended

        @property
        def extended_statistics(self) -> dict[str, float] | None:
            if not self.extended:
                return None
            values = _values(self.metric_data)
            found = {s: _percentile(values, s) for s in self.extended}
            return {s: v for s, v in found.items() if v is not None} or None

    def get_metric_statistics(
        self: Any,
        namespace: str,
        metric_name: str,
        start_time: datetime,
        end_time: datetime,
        period: int,
        stats: list[str],
        dimensions: list[dict[str, str]],
        unit: str | None = None,
    ) -> list[Any]:
        if start_time >= end_time:
            from moto.cloudwatch.exceptions import InvalidParameterValue

            raise InvalidParameterValue(
                "The parameter StartTime must be less than the parameter EndTime."
            )
        plain = [s for s in stats if not _is_percentile(s)]
        extended = [s for s in stats if _is_percentile(s)]
        data = _select(self, namespace, metric_name, dimensions, start_time, end_time, unit)
        out = []
        for dt, bucket in _periods(data, period).items():
            statistics = PeriodStatistics(plain, extended, dt, bucket[-1].unit)
            statistics.metric_data = bucket
            out.append(statistics)
        return out

    original_get_metric_data = CloudWatchBackend.get_metric_data

    def get_metric_data(
        self: Any,
        queries: list[dict[str, Any]],
        start_time: datetime,
        end_time: datetime,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        # moto cannot compute pNN (it would fail serialising None): it computes Maximum in their
        # place, and we overwrite every MetricStat result below. Metric math over a pNN query
        # therefore sees that query's Maximum (a documented difference).
        for_moto = [
            {**q, "MetricStat": {**q["MetricStat"], "Stat": "Maximum"}}
            if "MetricStat" in q and _is_percentile(q["MetricStat"]["Stat"])
            else q
            for q in queries
        ]
        results: list[dict[str, Any]] = original_get_metric_data(
            self, for_moto, start_time, end_time, scan_by
        )
        by_id = {q["Id"]: q for q in queries if "MetricStat" in q}
        for result in results:
            query = by_id.get(result["id"])
            if query is None:
                continue
            stat_spec = query["MetricStat"]
            metric = stat_spec["Metric"]
            data = _select(
                self,
                metric["Namespace"],
                metric["MetricName"],
                metric.get("Dimensions", []),
                start_time,
                end_time,
                stat_spec.get("Unit"),
            )
            stat = stat_spec["Stat"]
            result["label"] = query.get("Label") or f"{metric['MetricName']} {stat}"
            timestamps, values = [], []
            for dt, bucket in _periods(data, int(stat_spec["Period"])).items():
                value: float | None
                if _is_percentile(stat):
                    value = _percentile(_values(bucket), stat)
                else:
                    statistics = Statistics([stat], dt)
                    statistics.metric_data = bucket
                    found = statistics.get_statistics_for_type(stat)
                    value = None if found is None else float(found)
                if value is not None:
                    timestamps.append(dt)
                    values.append(value)
            if scan_by == "TimestampDescending":
                timestamps.reverse()
                values.reverse()
            result["timestamps"], result["values"] = timestamps, values
        return results

    original_response = CloudWatchResponse.get_metric_statistics

    def response_get_metric_statistics(self: Any) -> Any:
        """moto's response, with ExtendedStatistics passed to the backend as statistics."""
        extended = self._get_param("ExtendedStatistics") or []
        if not extended:
            return original_response(self)
        backend = self.cloudwatch_backend
        plain = self._get_param("Statistics", [])
        datapoints = backend.get_metric_statistics(
            self._get_param("Namespace"),
            self._get_param("MetricName"),
            self._get_param("StartTime"),
            self._get_param("EndTime"),
            self._get_int_param("Period"),
            [*plain, *extended],
            unit=self._get_param("Unit"),
            dimensions=self._get_param("Dimensions", []),
        )
        from moto.core.responses import ActionResult

        return ActionResult({"Label": self._get_param("MetricName"), "Datapoints": datapoints})

    # Registered by subclassing: moto finds it through __subclasses__(), which holds only a weak
    # reference, so the class must be kept alive here or it silently disappears.
    _installed["cloudwatch_provider"] = LambdaMetricsProvider
    _patch(CloudWatchBackend, "get_metric_statistics", get_metric_statistics)
    _patch(CloudWatchBackend, "get_metric_data", get_metric_data)
    _patch(CloudWatchResponse, "get_metric_statistics", response_get_metric_statistics)
