"""Arrival generators and the planner's input files, good and bad (one clear line each)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pclab.plan import arrivals, inputs
from pclab.plan.arrivals import PlanInputError


def test_poisson_has_the_rate_and_repeats_with_its_seed() -> None:
    first = arrivals.poisson(50.0, 3600.0, np.random.default_rng(1))
    again = arrivals.poisson(50.0, 3600.0, np.random.default_rng(1))
    other = arrivals.poisson(50.0, 3600.0, np.random.default_rng(2))
    assert np.array_equal(first.times, again.times)
    assert not np.array_equal(first.times[:100], other.times[:100])
    assert len(first) == pytest.approx(180_000, rel=0.01)  # sd 0.24 %
    gaps = np.diff(first.times)
    assert gaps.mean() == pytest.approx(0.02, rel=0.01)
    assert gaps.std() == pytest.approx(0.02, rel=0.02)  # exponential: sd = mean
    assert np.all(gaps >= 0) and first.times[-1] < 3600.0


def test_uniform_is_evenly_spaced() -> None:
    times = arrivals.uniform(4.0, 10.0).times
    assert times.tolist() == [k / 4.0 for k in range(40)]


def test_ramp_rises_linearly_from_zero_to_the_rate() -> None:
    result = arrivals.ramp(100.0, 600.0, np.random.default_rng(3))
    assert len(result) == pytest.approx(30_000, rel=0.03)  # the area: R x S / 2
    first_half = int(np.sum(result.times < 300.0))
    assert first_half / len(result) == pytest.approx(0.25, abs=0.01)  # (1/2)^2 of the calls


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_a_rate_must_be_positive(bad: float) -> None:
    with pytest.raises(PlanInputError, match="--rate"):
        arrivals.uniform(bad, 10.0)


def test_counts_are_spread_within_their_period() -> None:
    starts = np.array([0.0, 60.0])
    counts = np.array([3, 2], dtype=np.int64)
    even = arrivals.spread_counts(starts, counts, 60.0, "uniform", np.random.default_rng(0))
    assert even.tolist() == [0.0, 20.0, 40.0, 60.0, 90.0]
    spread = arrivals.spread_counts(starts, counts, 60.0, "poisson", np.random.default_rng(0))
    assert np.all(np.diff(spread) >= 0)
    assert int(np.sum(spread < 60.0)) == 3 and int(np.sum(spread >= 60.0)) == 2


def test_csv_of_seconds_and_calls(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_text("second,calls\n1764000005,2\n1764000003,4\n\n1764000005,1\n")
    counts = inputs.read_csv_counts(path)
    assert counts.starts.tolist() == [0.0, 2.0]  # sparse, sorted, shifted to start at 0
    assert counts.counts.tolist() == [4, 3]  # the same second twice adds up
    assert counts.clock_start_s == 1764000003 % 86400  # epoch seconds give the clock
    made = counts.arrivals("uniform", np.random.default_rng(0))
    assert made.times.tolist() == [0.0, 0.25, 0.5, 0.75, 2.0, 2 + 1 / 3, 2 + 2 / 3]
    assert made.span_s == 3.0 and made.source["kind"] == "csv"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("second,calls\n0,abc\n", "line 2: calls 'abc' is not a number"),
        ("0,5\n1,-2\n", "line 2: calls -2 must be 0 or more"),
        ("0,5,7\n", "line 1: expected 2 columns"),
        ("0,1.5\n", "line 1: calls 1.5 is not a whole number"),
        ("second,calls\n", "no rows"),
    ],
)
def test_a_bad_csv_is_one_line_naming_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(PlanInputError, match=message) as caught:
        inputs.read_csv_counts(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(PlanInputError, match="no such file"):
        inputs.read_csv_counts(tmp_path / "nope.csv")


def cloudwatch_document() -> dict[str, object]:
    """`aws cloudwatch get-metric-data` output as the AWS CLI prints it: newest first."""
    return {
        "MetricDataResults": [
            {
                "Id": "m1",
                "Label": "Invocations",
                "Timestamps": [
                    "2025-12-01T08:02:00+00:00",
                    "2025-12-01T08:01:00+00:00",
                    "2025-12-01T08:00:00+00:00",
                ],
                "Values": [120.0, 0.0, 60.0],
                "StatusCode": "Complete",
            },
            {"Id": "m2", "Label": "Throttles", "Timestamps": [], "Values": []},
        ],
        "Messages": [],
    }


def test_cloudwatch_invocations_per_minute(tmp_path: Path) -> None:
    path = tmp_path / "metric.json"
    path.write_text(json.dumps(cloudwatch_document()))
    counts = inputs.read_cloudwatch(path)
    assert counts.period_s == 60.0
    assert counts.starts.tolist() == [0.0, 60.0, 120.0]
    assert counts.counts.tolist() == [60, 0, 120]
    assert counts.clock_start_s == 8 * 3600
    made = counts.arrivals("poisson", np.random.default_rng(0))
    assert len(made) == 180 and made.span_s == 180.0
    assert int(np.sum(made.times < 60.0)) == 60 and int(np.sum(made.times >= 120.0)) == 120


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not JSON"),
        ({"Foo": 1}, "no MetricDataResults"),
        (
            {"MetricDataResults": [{"Id": "a", "Timestamps": [], "Values": []}] * 2},
            "2 results",
        ),
        (
            {"MetricDataResults": [{"Timestamps": ["2025-12-01T08:00:00Z"], "Values": []}]},
            "same length",
        ),
        (
            {"MetricDataResults": [{"Timestamps": ["yesterday"], "Values": [1]}]},
            "neither ISO 8601",
        ),
        ({"MetricDataResults": [{"Timestamps": [0], "Values": [-3]}]}, "not a count"),
    ],
)
def test_a_bad_cloudwatch_file_is_one_line(tmp_path: Path, document: object, message: str) -> None:
    path = tmp_path / "metric.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(PlanInputError, match=message):
        inputs.read_cloudwatch(path)


def test_a_report_gives_arrivals_durations_and_inits(report_json: Path) -> None:
    workload = inputs.read_report(report_json)
    report = json.loads(report_json.read_text())
    calls = report["invocations"]
    assert len(workload.arrivals) == len(calls) == 30
    assert workload.arrivals.times[0] == 0.0 and np.all(np.diff(workload.arrivals.times) >= 0)
    assert workload.durations.kind == "measured"
    assert sorted(workload.durations.values.tolist()) == sorted(
        c["handler_latency_s"] for c in calls
    )
    cold = [c["init_duration_ms"] / 1000 for c in calls if c["cold"]]
    assert workload.inits is not None and sorted(workload.inits.values.tolist()) == sorted(cold)
    assert workload.run == report["runs"][0]["name"]


def test_a_bad_report_is_one_line(tmp_path: Path, report_json: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "something/1"}))
    with pytest.raises(PlanInputError, match="not a pclab report"):
        inputs.read_report(other)
    with pytest.raises(PlanInputError, match="no run 'Missing'; the runs are"):
        inputs.read_report(report_json, "Missing")
