"""CloudWatch's counts next to the run's own (issue 12): read from a GetMetricData reply, compared,
and shown: a difference is a disagreement a user reads, equal counts are silent, and metrics that
did not come are a note, not a wrong comparison."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pclab.analysis.metrics_check import disagreements, with_metrics
from pclab.analysis.model import (
    Analysis,
    MetricsView,
    RunConfig,
    RunSummary,
    Source,
    SourceBatch,
    SourceFormatError,
)
from pclab.analysis.pipeline import analyze
from pclab.analysis.sources.execution_history import parse_execution_history
from pclab.analysis.sources.execution_output import parse_execution_output
from pclab.analysis.sources.metrics import metric_data_queries, parse_metric_data
from pclab.cli import main
from pclab.report.json_report import report_dict
from pclab.report.table import render_table

from . import synthetic

MACHINE = "ProvisionedConcurrencyTestStateMachine"
FUNCTION = "ProvisionedConcurrencyTestFunction"


@pytest.fixture(scope="module")
def run() -> synthetic.SimulatedRun:
    # 30 items at 20 at once on 10 provisioned environments: some calls spill over
    return synthetic.simulate(
        30, provisioned=10, map_limit=20, state_machine=MACHINE, function=FUNCTION
    )


@pytest.fixture(scope="module")
def analysis(run: synthetic.SimulatedRun) -> Analysis:
    batches = [
        SourceBatch(
            Source.EXECUTION_OUTPUT,
            tuple(parse_execution_output(synthetic.execution_output(run), state_machine=MACHINE)),
        ),
        SourceBatch(
            Source.EXECUTION_HISTORY,
            tuple(parse_execution_history(synthetic.execution_history(run), state_machine=MACHINE)),
        ),
    ]
    config = RunConfig(
        MACHINE, function_name=FUNCTION, qualifier="live", provisioned_concurrency=10
    )
    return analyze(batches, [config])


def reply(summary: RunSummary, **overrides: int) -> dict[str, Any]:
    """A GetMetricData reply that counts what the run counted (unless ``overrides`` say else),
    each count spread over two minutes as CloudWatch returns it."""
    counts = {
        "invocations": summary.invocations + summary.retries - summary.throttles,
        "throttles": summary.throttles,
        "concurrency": summary.peak_concurrency,
        "pc_invocations": summary.served_by_pc,
        "spillover": summary.spillover,
    }
    counts.update(overrides)
    results = []
    for query in metric_data_queries(FUNCTION, "live"):
        total = counts[query["Id"]]
        if query["MetricStat"]["Stat"] == "Maximum":
            values = [float(total), float(max(total - 3, 0))]
        else:
            values = [float(total // 2), float(total - total // 2)]
        results.append(
            {
                "Id": query["Id"],
                "Label": query["Label"],
                "Timestamps": ["2025-11-24T16:00:00+00:00", "2025-11-24T16:01:00+00:00"],
                "Values": values,
                "StatusCode": "Complete",
            }
        )
    return {"MetricDataResults": results, "Messages": []}


def test_equal_counts_are_shown_and_raise_no_disagreement(analysis: Analysis) -> None:
    (summary,) = analysis.runs
    assert summary.spillover > 0 and summary.served_by_pc > 0  # the comparison has something
    (view,) = parse_metric_data(reply(summary))
    assert (view.function_name, view.qualifier) == (FUNCTION, "live")
    assert view.spillover == summary.spillover
    assert view.peak_concurrent_executions == summary.peak_concurrency  # the largest minute
    checked = with_metrics(analysis, [view])
    assert checked.metrics == {MACHINE: view}
    assert checked.disagreements == analysis.disagreements
    document = report_dict(checked)
    assert document["runs"][0]["metrics"]["spillover"] == summary.spillover
    assert document["runs"][0]["metrics"]["provided"] is True


def test_each_difference_is_one_sentence_about_the_run(analysis: Analysis) -> None:
    (summary,) = analysis.runs
    summary = replace(summary, throttles=2, invocations=summary.invocations + 2)
    (view,) = parse_metric_data(
        reply(summary, throttles=3, spillover=summary.spillover + 1, concurrency=25)
    )
    found = {d.topic: d for d in disagreements(summary, view)}
    assert set(found) == {"metrics-throttles", "metrics-spillover", "metrics-peak-concurrency"}
    throttles = found["metrics-throttles"]
    assert throttles.message == "CloudWatch counts 3 throttles, the execution history 2"
    assert (throttles.run, throttles.request_id, throttles.item_id) == (MACHINE, None, None)
    assert f"{summary.spillover + 1} spillover" in found["metrics-spillover"].message
    assert "25" in found["metrics-peak-concurrency"].message


def test_metrics_still_arriving_say_so_and_compare_nothing_else(analysis: Analysis) -> None:
    (summary,) = analysis.runs
    (view,) = parse_metric_data(reply(summary, invocations=5, throttles=0, spillover=0))
    (found,) = disagreements(summary, view)
    assert found.topic == "metrics-invocations"
    assert "not all there yet" in found.message


def test_metrics_that_did_not_come_are_a_note_and_no_comparison(
    analysis: Analysis, tmp_path: Path
) -> None:
    note = "CloudWatch metrics had not arrived after 60 s (AWS publishes them a few minutes late)"
    view = MetricsView(FUNCTION, "live", MACHINE, provided=False, note=note)
    checked = with_metrics(analysis, [view])
    assert checked.disagreements == analysis.disagreements
    assert any(note in line for line in checked.notes)
    assert report_dict(checked)["runs"][0]["metrics"]["provided"] is False
    console = Console(record=True, width=160)
    render_table(checked, console)
    assert "not available" in console.export_text()


def test_a_reply_that_is_not_one_is_refused_in_one_line() -> None:
    with pytest.raises(SourceFormatError, match="GetMetricData"):
        parse_metric_data({"Datapoints": []})
    with pytest.raises(SourceFormatError, match="no AWS/Lambda result"):
        parse_metric_data({"MetricDataResults": [{"Id": "m1", "Label": "CPU", "Values": [1.0]}]})


def test_pclab_analyze_compares_a_saved_reply(
    run: synthetic.SimulatedRun, analysis: Analysis, tmp_path: Path
) -> None:
    (summary,) = analysis.runs
    history = tmp_path / "history.json"
    history.write_text(json.dumps(synthetic.execution_history(run)))
    output = tmp_path / "output.json"
    output.write_text(json.dumps(synthetic.execution_output(run)))
    metrics = tmp_path / "metric-data.json"
    metrics.write_text(json.dumps(reply(summary, throttles=4)))
    out = tmp_path / "report"
    code = main(
        [
            "analyze",
            "--no-charts",
            "--out", str(out),
            "--execution-history", str(history),
            "--execution-output", str(output),
            "--metrics", str(metrics),
            "--provisioned-concurrency", f"{FUNCTION}=10",
        ]
    )  # fmt: skip
    assert code == 0
    document = json.loads((out / "report.json").read_text())
    (reported,) = document["runs"]
    assert reported["metrics"]["throttles"] == 4
    assert reported["metrics"]["origin"] == str(metrics)
    topics = [d["topic"] for d in document["disagreements"] if d["topic"].startswith("metrics")]
    assert topics == ["metrics-throttles"]


def test_without_a_history_a_distributed_maps_throttles_are_cloudwatchs(
    run: synthetic.SimulatedRun,
) -> None:
    """A Distributed Map's children keep no history: the run's own throttle count would be a
    silent 0 (1,256 throttles went unseen at 1,250 items); CloudWatch's count takes its place."""
    output_only = [
        SourceBatch(
            Source.EXECUTION_OUTPUT,
            tuple(parse_execution_output(synthetic.execution_output(run), state_machine=MACHINE)),
        ),
        SourceBatch(Source.EXECUTION_HISTORY, (), provided=False, note="Distributed Map"),
    ]
    config = RunConfig(
        MACHINE, function_name=FUNCTION, qualifier="live", provisioned_concurrency=10
    )
    plain = analyze(output_only, [config])
    (summary,) = plain.runs
    assert (summary.throttles, summary.retries) == (0, 0)
    (view,) = parse_metric_data(
        reply(summary, throttles=7, invocations=summary.invocations)  # all 7 retried and served
    )
    checked = with_metrics(plain, [view])
    (counted,) = checked.runs
    assert (counted.throttles, counted.retries) == (7, 7)
    assert [n for n in counted.notes if n.startswith("throttles: CloudWatch's count (7)")]
    assert [d for d in checked.disagreements if d.topic.startswith("metrics")] == []
