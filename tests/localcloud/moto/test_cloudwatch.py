"""Guards pclab/localcloud/moto/cloudwatch.py: Lambda's metrics through moto's CloudWatch."""

from __future__ import annotations

import inspect
from datetime import datetime

from localcloud.cloud_helpers import Cloud
from localcloud.moto.guard import guard_tests

BACKEND = "moto.cloudwatch.models.CloudWatchBackend"
RESPONSE = "moto.cloudwatch.responses.CloudWatchResponse"

# (owner, attribute) -> leading parameters of moto's original
PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    (BACKEND, "get_metric_statistics"): [
        "self",
        "namespace",
        "metric_name",
        "start_time",
        "end_time",
        "period",
        "stats",
        "dimensions",
        "unit",
    ],
    (BACKEND, "get_metric_data"): ["self", "queries", "start_time", "end_time", "scan_by"],
    (RESPONSE, "get_metric_statistics"): ["self"],
}

# (module, dotted attribute) read without replacing
READ_INTERNALS = [
    ("moto.core.common_models", "CloudWatchMetricProvider.get_cloudwatch_metrics"),
    ("moto.cloudwatch.models", "CloudWatchBackend.get_all_metrics"),
    ("moto.cloudwatch.models", "CloudWatchBackend.aws_metric_data"),
    ("moto.cloudwatch.models", "Statistics.get_statistics_for_type"),
    ("moto.cloudwatch.responses", "CloudWatchResponse._get_param"),
]


test_patched_internal_keeps_its_shape, test_read_internal_exists = guard_tests(
    PATCHED_SIGNATURES, READ_INTERNALS
)


def test_aggregated_datums_and_statistics_take_what_we_build_them_with(cloud: Cloud) -> None:
    """We build MetricAggregatedDatum and Statistics ourselves; their constructors must fit."""
    from moto.cloudwatch.models import MetricAggregatedDatum, Statistics

    datum = MetricAggregatedDatum(
        namespace="AWS/Lambda",
        name="Duration",
        min_stat=1.0,
        max_stat=3.0,
        sample_count=2,
        sum_stat=4.0,
        dimensions=[{"Name": "FunctionName", "Value": "f"}],
        timestamp=datetime(2026, 1, 1),
        unit="Milliseconds",
    )
    stats = Statistics(["Sum", "Maximum", "SampleCount"], datetime(2026, 1, 1), "Milliseconds")
    stats.metric_data = [datum]
    assert (stats.sum, stats.maximum, stats.sample_count) == (4.0, 3.0, 2)
    assert list(inspect.signature(Statistics).parameters)[:3] == ["stats", "dt", "unit"]


def test_moto_finds_the_provider_among_its_metric_providers(cloud: Cloud) -> None:
    from moto.core.common_models import CloudWatchMetricProvider

    names = [p.__name__ for p in CloudWatchMetricProvider.__subclasses__()]
    assert "LambdaMetricsProvider" in names
