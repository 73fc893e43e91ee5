"""Lambda's CloudWatch metrics, read through the CloudWatch API of a real local cloud.

Real server over HTTP, real execution environments: a provisioned pool of 2 behind an alias takes
4 calls at once (2 spill over), a function reserved at 1 takes 3 at once (2 throttled). What
``aws cloudwatch get-metric-statistics`` / ``get-metric-data`` / ``list-metrics`` answer must be
what happened, with CloudWatch's exact dimension matching (asking for ``FunctionName`` alone must
not add in the ``FunctionName+Resource`` series).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud_helpers import Cloud, handler_zip
from pclab.localcloud.server import LocalCloud

SLEEPY = (
    "import time\n"
    "def handler(event, context):\n"
    "    time.sleep(event.get('sleep', 0))\n"
    "    return 1\n"
)


@pytest.fixture(scope="module")
def live_cloud() -> Iterator[Cloud]:
    local = LocalCloud(0)
    local.start()
    try:
        yield Cloud(local)
    finally:
        local.stop()


def create(cloud: Cloud, name: str) -> str:
    iam, lam = cloud.client("iam"), cloud.client("lambda")
    role = iam.create_role(RoleName=f"role-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": handler_zip(SLEEPY)},
    )
    return str(lam.publish_version(FunctionName=name)["Version"])


def at_once(cloud: Cloud, n: int, **invoke: Any) -> list[int]:
    """n calls at once; how many answered 200 (the others were throttled)."""
    lam = cloud.client("lambda")

    def one(_: int) -> int:
        try:
            return int(lam.invoke(Payload=b'{"sleep": 1.0}', **invoke)["StatusCode"])
        except ClientError as error:
            return int(error.response["ResponseMetadata"]["HTTPStatusCode"])

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


@pytest.fixture(scope="module")
def run(live_cloud: Cloud) -> dict[str, Any]:
    """The small run every test reads: spillover on one function, throttles on another."""
    lam = live_cloud.client("lambda")
    pc, capped = f"pc-{uuid.uuid4().hex[:8]}", f"capped-{uuid.uuid4().hex[:8]}"
    version = create(live_cloud, pc)
    lam.create_alias(FunctionName=pc, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(
        FunctionName=pc, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    deadline = time.monotonic() + 60
    while (
        lam.get_provisioned_concurrency_config(FunctionName=pc, Qualifier="live")["Status"]
        != "READY"
    ):
        assert time.monotonic() < deadline, "provisioned concurrency never became READY"
        time.sleep(0.2)
    create(live_cloud, capped)
    lam.put_function_concurrency(FunctionName=capped, ReservedConcurrentExecutions=1)
    started = datetime.now(UTC)
    pc_codes = at_once(live_cloud, 4, FunctionName=pc, Qualifier="live")
    capped_codes = at_once(live_cloud, 3, FunctionName=capped)
    return {
        "pc": pc,
        "capped": capped,
        "version": version,
        "pc_codes": pc_codes,
        "capped_codes": capped_codes,
        "start": started - timedelta(minutes=2),
        "end": datetime.now(UTC) + timedelta(minutes=2),
    }


def statistic(
    cloud: Cloud, run: dict[str, Any], metric: str, dims: dict[str, str], stat: str
) -> list[float]:
    """Every datapoint's value of one statistic, at 1-minute periods, over the run."""
    answer = cloud.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=run["start"],
        EndTime=run["end"],
        Period=60,
        Statistics=[stat],
    )
    return [float(p[stat]) for p in answer["Datapoints"]]


def test_spillover_and_pc_invocations_in_every_dimension_set(
    live_cloud: Cloud, run: dict[str, Any]
) -> None:
    assert run["pc_codes"] == [200] * 4
    pc = run["pc"]
    for dims in (
        {"FunctionName": pc},
        {"FunctionName": pc, "Resource": f"{pc}:live"},
        {"FunctionName": pc, "Resource": f"{pc}:live", "ExecutedVersion": run["version"]},
    ):
        assert sum(statistic(live_cloud, run, "Invocations", dims, "Sum")) == 4, dims
    live = {"FunctionName": pc, "Resource": f"{pc}:live"}
    assert sum(statistic(live_cloud, run, "ProvisionedConcurrencyInvocations", live, "Sum")) == 2
    spill = "ProvisionedConcurrencySpilloverInvocations"
    assert sum(statistic(live_cloud, run, spill, live, "Sum")) == 2
    assert (
        max(statistic(live_cloud, run, "ConcurrentExecutions", {"FunctionName": pc}, "Maximum"))
        == 4
    )
    utilization = statistic(live_cloud, run, "ProvisionedConcurrencyUtilization", live, "Maximum")
    assert max(utilization) == 1.0


def test_throttles_at_the_reserved_cap(live_cloud: Cloud, run: dict[str, Any]) -> None:
    assert sorted(run["capped_codes"]) == [200, 429, 429]
    capped = {"FunctionName": run["capped"]}
    assert sum(statistic(live_cloud, run, "Throttles", capped, "Sum")) == 2
    assert sum(statistic(live_cloud, run, "Invocations", capped, "Sum")) == 1  # throttles excluded


def test_duration_percentiles_and_get_metric_data(live_cloud: Cloud, run: dict[str, Any]) -> None:
    cloudwatch = live_cloud.client("cloudwatch")
    dims = [{"Name": "FunctionName", "Value": run["pc"]}]
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Dimensions=dims,
        StartTime=run["start"],
        EndTime=run["end"],
        Period=3600 * 24,
        Statistics=["SampleCount", "Maximum"],
        ExtendedStatistics=["p50", "p99"],
    )
    (point,) = answer["Datapoints"]
    assert point["SampleCount"] == 4 and point["Unit"] == "Milliseconds"
    assert 1000 <= point["ExtendedStatistics"]["p50"] <= point["ExtendedStatistics"]["p99"]
    assert point["ExtendedStatistics"]["p99"] == point["Maximum"]

    data = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "spill",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "ProvisionedConcurrencySpilloverInvocations",
                        "Dimensions": [*dims, {"Name": "Resource", "Value": f"{run['pc']}:live"}],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
            {
                "Id": "p99",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "Duration",
                        "Dimensions": dims,
                    },
                    "Period": 60,
                    "Stat": "p99",
                },
            },
        ],
        StartTime=run["start"],
        EndTime=run["end"],
    )
    by_id = {r["Id"]: r for r in data["MetricDataResults"]}
    assert sum(by_id["spill"]["Values"]) == 2
    assert by_id["p99"]["Values"] and min(by_id["p99"]["Values"]) >= 1000
    for result in by_id.values():  # a minute's datapoint is stamped at the minute
        assert all(t.second == 0 and t.microsecond == 0 for t in result["Timestamps"])


def test_list_metrics_names_what_lambda_emits(live_cloud: Cloud, run: dict[str, Any]) -> None:
    listed = live_cloud.client("cloudwatch").list_metrics(
        Namespace="AWS/Lambda", Dimensions=[{"Name": "FunctionName", "Value": run["pc"]}]
    )["Metrics"]
    names = {m["MetricName"] for m in listed}
    assert {"Invocations", "Duration", "ConcurrentExecutions"} <= names
