"""Joining sources, deciding cold/PC per call, and the per-run summary a user reads."""

from __future__ import annotations

import json

import pytest

from pclab.analysis.cost import PRICE_PC_GB_SECOND, billed_ms, pc_hourly_usd, run_cost
from pclab.analysis.model import Invocation, RunConfig, Source, SourceBatch
from pclab.analysis.pipeline import analyze
from pclab.analysis.sources.execution_history import parse_execution_history
from pclab.analysis.sources.execution_output import parse_execution_output
from pclab.analysis.sources.logs import parse_logs
from pclab.analysis.sources.xray import parse_traces
from pclab.analysis.stats import latency_stats, makespan, peak_concurrency, percentile

from . import synthetic

PC_MACHINE = "ProvisionedConcurrencyTestStateMachine"
PC_FUNCTION = "ProvisionedConcurrencyTestFunction"


def _batches(run: synthetic.SimulatedRun, *, skip: tuple[Source, ...] = ()) -> list[SourceBatch]:
    made = {
        Source.EXECUTION_OUTPUT: lambda: parse_execution_output(
            synthetic.execution_output(run), state_machine=run.state_machine
        ),
        Source.EXECUTION_HISTORY: lambda: parse_execution_history(
            synthetic.execution_history(run), state_machine=run.state_machine
        ),
        Source.XRAY: lambda: parse_traces(synthetic.xray_traces(run)),
        Source.LOGS: lambda: parse_logs(synthetic.log_events(run)),
    }
    return [
        SourceBatch(source, tuple(make())) for source, make in made.items() if source not in skip
    ]


def _pc_run(items: int = 150, provisioned: int = 150, **kwargs: object) -> synthetic.SimulatedRun:
    return synthetic.simulate(
        items,
        provisioned=provisioned,
        state_machine=PC_MACHINE,
        function=PC_FUNCTION,
        start=1_764_000_100.0,
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_samples_story_cold_is_init_plus_work_warm_is_work_none_cold_with_pc() -> None:
    base, pc = synthetic.simulate(150), _pc_run()
    analysis = analyze(
        _batches(base) + _batches(pc),
        [
            RunConfig(name=base.state_machine, max_concurrency=0),
            RunConfig(name=PC_MACHINE, provisioned_concurrency=150, max_concurrency=0),
        ],
    )
    reserved, provisioned = analysis.runs
    assert (reserved.invocations, reserved.cold_starts, reserved.served_by_pc) == (150, 40, 0)
    assert reserved.latency_caller_cold.p50 == pytest.approx(8.2, abs=0.15)
    assert reserved.latency_caller_warm.p50 == pytest.approx(3.03, abs=0.05)
    assert reserved.init_duration.p50 == pytest.approx(5.15, abs=0.15)
    assert (reserved.peak_concurrency, reserved.asked_concurrency) == (40, 40)
    # cold = init + work + what the services add (a few tens of ms in the simulation)
    overhead = reserved.overhead
    assert overhead.p50 is not None and overhead.max is not None
    assert 0 < overhead.p50 < 0.1 and overhead.max < 0.1
    assert reserved.environments == 40
    assert (provisioned.cold_starts, provisioned.served_by_pc, provisioned.spillover) == (0, 150, 0)
    assert provisioned.latency_caller.max == pytest.approx(3.05, abs=0.05)
    assert provisioned.cost.pc_hourly_usd == pytest.approx(pc_hourly_usd(150, 128))
    assert analysis.disagreements == ()
    assert all(Source.LOGS in inv.sources and len(inv.sources) == 4 for inv in analysis.invocations)


def test_spillover_beyond_the_provisioned_environments_is_cold_and_on_demand() -> None:
    run = _pc_run(items=100, provisioned=50, map_limit=100)
    analysis = analyze(_batches(run), [RunConfig(name=PC_MACHINE, provisioned_concurrency=50)])
    (summary,) = analysis.runs
    assert (summary.served_by_pc, summary.spillover, summary.cold_starts) == (50, 50, 50)
    assert summary.peak_concurrency == 100
    spilled = [inv for inv in analysis.invocations if inv.served_by_pc is False]
    assert all(inv.cold and inv.init_type == "on-demand" for inv in spilled)
    # spillover is billed at the on-demand rate, the rest at the PC duration rate
    assert summary.cost.on_demand_gb_seconds == pytest.approx(50 * 8.2 / 8, rel=0.05)
    assert summary.cost.pc_served_gb_seconds == pytest.approx(50 * 3.0 / 8, rel=0.05)


def test_without_configs_the_run_is_named_from_the_sources_and_the_map_cap_explained() -> None:
    pc = _pc_run()
    analysis = analyze(_batches(pc, skip=(Source.EXECUTION_OUTPUT,)))
    (summary,) = analysis.runs
    assert summary.name == PC_MACHINE  # the X-Ray state machine segment names it
    assert summary.provisioned_concurrency == 150  # distinct PC environments seen (a floor)
    assert summary.asked_concurrency == 150 and summary.peak_concurrency == 40
    assert any("inline Map runs at most 40" in note for note in summary.notes)
    assert any("configured provisioned concurrency not given" in note for note in summary.notes)


def test_a_run_whose_items_arrive_over_time_asks_for_no_concurrency() -> None:
    """15 items spread over 10 s peaked at a few: "asked 15" would read as a shortfall."""
    run = synthetic.simulate(15, map_limit=15)
    burst = analyze(_batches(run), [RunConfig(name=run.state_machine, items=15)])
    assert burst.runs[0].asked_concurrency == 15
    config = RunConfig(name=run.state_machine, items=15, arrival_span_s=10)
    (summary,) = analyze(_batches(run), [config]).runs
    assert summary.asked_concurrency is None and summary.peak_concurrency == 15
    assert any("15 calls arrive over 10 s" in note for note in summary.notes)


def test_handler_says_warm_but_trace_shows_initialization_is_reported() -> None:
    run = synthetic.simulate(3, map_limit=3)
    output = synthetic.execution_output(run)
    output["results"][0]["first"] = False  # the handler's claim
    analysis = analyze(
        [
            SourceBatch(Source.EXECUTION_OUTPUT, tuple(parse_execution_output(output))),
            SourceBatch(
                Source.EXECUTION_HISTORY,
                tuple(parse_execution_history(synthetic.execution_history(run))),
            ),
            SourceBatch(Source.XRAY, tuple(parse_traces(synthetic.xray_traces(run)))),
        ]
    )
    (disagreement,) = analysis.disagreements
    assert disagreement.topic == "cold" and disagreement.item_id == "1"
    assert "handler says warm" in disagreement.message
    assert "init was still running when the call started" in disagreement.message
    assert analysis.runs[0].cold_starts == 3  # the timing evidence wins


def test_init_duration_on_a_provisioned_environment_is_not_a_cold_start() -> None:
    """FACTS.md: a recycled PC environment may log Init Duration though nobody waited for it."""
    run = _pc_run(items=2, provisioned=2)
    logs = synthetic.log_events(run)
    first_report = next(e for e in logs["events"] if e["message"].startswith("REPORT"))
    first_report["message"] = first_report["message"].replace(
        "\t\nXRAY", "\tInit Duration: 5100.00 ms\t\nXRAY"
    )
    analysis = analyze(
        [
            SourceBatch(
                Source.EXECUTION_OUTPUT,
                tuple(parse_execution_output(synthetic.execution_output(run))),
            ),
            SourceBatch(
                Source.EXECUTION_HISTORY,
                tuple(parse_execution_history(synthetic.execution_history(run))),
            ),
            SourceBatch(Source.LOGS, tuple(parse_logs(logs))),
        ],
        [RunConfig(name=PC_MACHINE, function_name=PC_FUNCTION, provisioned_concurrency=2)],
    )
    assert analysis.runs[0].cold_starts == 0
    (disagreement,) = analysis.disagreements
    assert (
        disagreement.topic == "init-duration" and "provisioned environment" in disagreement.message
    )


def test_missing_and_partial_sources_are_named_and_the_rest_carries_on() -> None:
    run = synthetic.simulate(20, map_limit=10)
    traces = synthetic.xray_traces(run)
    # keep only the state machine segment and the first call's two segments (+ its subsegment)
    traces["Traces"][0]["Segments"] = traces["Traces"][0]["Segments"][:4]
    batches = [
        SourceBatch(
            Source.EXECUTION_HISTORY,
            tuple(parse_execution_history(synthetic.execution_history(run))),
        ),
        SourceBatch(Source.XRAY, tuple(parse_traces(traces))),
        SourceBatch(Source.LOGS, provided=False, note="log group /aws/lambda/F not found"),
    ]
    analysis = analyze(batches)
    (summary,) = analysis.runs
    assert summary.invocations == 20 and summary.cold_starts == 10
    assert "CloudWatch Logs not available: log group /aws/lambda/F not found" in analysis.notes
    coverage = {c.source: c for c in analysis.coverage[summary.name]}
    assert coverage[Source.XRAY].seen == 1 and "saw 1 of 20 calls" in (
        coverage[Source.XRAY].note or ""
    )
    assert coverage[Source.LOGS].provided is False
    assert coverage[Source.EXECUTION_OUTPUT].note == "not given"
    assert summary.cost.billed_estimated  # no REPORT lines: estimated from handler times


def test_records_without_request_id_join_by_item_then_by_time() -> None:
    run = synthetic.simulate(4, map_limit=4, throttle_every=4, fail_items=(2,))
    history = parse_execution_history(synthetic.execution_history(run))
    output = parse_execution_output(synthetic.execution_output(run))
    failed_out = next(inv for inv in output if inv.item_id == "2")
    failed_out.request_id = None  # an error entry whose Cause names no request
    next(inv for inv in history if inv.item_id == "2").request_id = None
    traces = parse_traces(synthetic.xray_traces(run))
    traces[0].request_id = None  # an X-Ray segment without aws.request_id
    analysis = analyze(
        [
            SourceBatch(Source.EXECUTION_OUTPUT, tuple(output)),
            SourceBatch(Source.EXECUTION_HISTORY, tuple(history)),
            SourceBatch(Source.XRAY, tuple(traces)),
        ]
    )
    (summary,) = analysis.runs
    assert summary.invocations == 4 and analysis.notes == ()
    failed = next(inv for inv in analysis.invocations if inv.item_id == "2")
    assert failed.sources == {Source.EXECUTION_OUTPUT, Source.EXECUTION_HISTORY}
    assert failed.error == "ValueError"
    assert (summary.errors, summary.throttles, summary.retries) == (1, 1, 1)
    assert all(len(inv.sources) == 3 for inv in analysis.invocations if inv.item_id != "2")


def test_logs_alone_classify_by_init_duration() -> None:
    run = synthetic.simulate(12, map_limit=6)
    analysis = analyze([SourceBatch(Source.LOGS, tuple(parse_logs(synthetic.log_events(run))))])
    (summary,) = analysis.runs
    assert (summary.invocations, summary.cold_starts, summary.served_by_pc) == (12, 6, 0)
    assert summary.latency_caller.count == 0 and summary.latency_handler.count == 12
    assert summary.cost.billed_estimated is False
    assert summary.peak_concurrency == 6  # from REPORT time minus duration


# --- statistics and cost ----------------------------------------------------------------------


def test_percentiles_interpolate_like_numpy() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 0.5) == pytest.approx(5.5)
    assert percentile(values, 0.9) == pytest.approx(9.1)
    assert percentile(values, 0.99) == pytest.approx(9.91)
    stats = latency_stats([3.0, None, 8.0, 3.0])
    assert (stats.count, stats.p50, stats.max) == (3, 3.0, 8.0)
    assert latency_stats([]).p50 is None


def test_peak_concurrency_is_maximum_overlap_and_back_to_back_calls_do_not_overlap() -> None:
    assert peak_concurrency([(0, 3), (3, 6), (6, 9)]) == 1
    assert peak_concurrency([(0, 8), (1, 4), (2, 3), (3.5, 9)]) == 3
    assert peak_concurrency([]) == 0
    assert makespan([(5, 8), (1, 4)]) == 7
    assert makespan([]) is None


def test_cost_at_published_prices() -> None:
    assert pc_hourly_usd(150, 1024) == pytest.approx(2.25, abs=0.001)
    cold = Invocation(billed_duration_ms=8208, sources={Source.LOGS})
    estimated = Invocation(
        handler_start=0.0, handler_end=3.0004, cold=True, init_duration_ms=5000.0
    )
    assert billed_ms(cold) == (8208, False)
    assert billed_ms(estimated) == (8001.0, True)
    pc_call = Invocation(billed_duration_ms=3001, served_by_pc=True)
    throttled = Invocation(error="Lambda.TooManyRequestsException")
    cost = run_cost(
        [cold, pc_call, throttled],
        memory_mb=1024,
        provisioned_concurrency=10,
        pc_enabled_seconds=60,
    )
    assert cost.requests_usd == pytest.approx(2 * 0.2 / 1e6)
    assert cost.on_demand_gb_seconds == pytest.approx(8.208)
    assert cost.pc_served_gb_seconds == pytest.approx(3.001)
    assert cost.pc_enabled_seconds == 300  # 5-minute minimum
    assert cost.pc_allocation_usd == pytest.approx(10 * 300 * PRICE_PC_GB_SECOND)
    assert cost.total_usd == pytest.approx(
        cost.requests_usd + cost.on_demand_usd + cost.pc_served_usd + cost.pc_allocation_usd
    )


def test_a_snapstart_run_pays_the_snapshot_cache_and_one_restore_per_environment() -> None:
    """Python SnapStart prices (us-east-1): cache per GB-second (3 h minimum), restore per GB."""
    restored = Invocation(
        billed_duration_ms=3120, cold=True, init_type="snap-start", init_duration_ms=310.0
    )
    warm = Invocation(billed_duration_ms=3001, cold=False, init_type="snap-start")
    cost = run_cost(
        [restored, restored, warm],
        memory_mb=2048,
        provisioned_concurrency=0,
        pc_enabled_seconds=0,
        snapstart_active_seconds=60,
    )
    assert cost.snapstart_restores == 2
    assert cost.snapstart_restore_usd == pytest.approx(2 * 2 * 0.0001397998)
    assert cost.snapstart_cache_usd == pytest.approx(2 * 3 * 3600 * 0.0000015046)  # the minimum
    assert cost.pc_allocation_usd == 0
    assert cost.total_usd == pytest.approx(
        cost.requests_usd
        + cost.on_demand_usd
        + cost.snapstart_cache_usd
        + cost.snapstart_restore_usd
    )
    long = run_cost(
        [warm],
        memory_mb=1024,
        provisioned_concurrency=0,
        pc_enabled_seconds=0,
        snapstart_active_seconds=4 * 3600,
    )
    assert long.snapstart_cache_usd == pytest.approx(4 * 3600 * 0.0000015046)
    assert long.snapstart_restore_usd == 0
    plain = run_cost(
        [Invocation(billed_duration_ms=5, cold=True, init_type="on-demand")],
        memory_mb=1024,
        provisioned_concurrency=0,
        pc_enabled_seconds=0,
    )
    assert plain.snapstart_cache_usd == plain.snapstart_restore_usd == 0


def test_history_of_a_caught_throttle_joins_the_output_error() -> None:
    """An item throttled on every attempt: no request id anywhere, joined by item id."""
    events = [
        {
            "id": 1,
            "previousEventId": 0,
            "timestamp": 0.0,
            "type": "MapIterationStarted",
            "mapIterationStartedEventDetails": {"name": "M", "index": 0},
        },
        {
            "id": 2,
            "previousEventId": 1,
            "timestamp": 0.1,
            "type": "TaskStateEntered",
            "stateEnteredEventDetails": {"name": "InvokeFunction", "input": '{"item": {"id": 9}}'},
        },
    ]
    for attempt in range(3):
        base = 3 + attempt * 2
        events.append(
            {
                "id": base,
                "previousEventId": base - 1,
                "timestamp": 1.0 + attempt,
                "type": "TaskScheduled",
                "taskScheduledEventDetails": {
                    "resourceType": "lambda",
                    "resource": "invoke",
                    "parameters": json.dumps(
                        {"FunctionName": "F:live", "Payload": {"item": {"id": 9}}}
                    ),
                },
            }
        )
        events.append(
            {
                "id": base + 1,
                "previousEventId": base,
                "timestamp": 1.1 + attempt,
                "type": "TaskFailed",
                "taskFailedEventDetails": {
                    "resourceType": "lambda",
                    "resource": "invoke",
                    "error": "Lambda.TooManyRequestsException",
                    "cause": "Rate Exceeded.",
                },
            }
        )
    history = parse_execution_history({"events": events})
    output = parse_execution_output(
        {
            "results": [
                {
                    "id": 9,
                    "error": {
                        "Error": "Lambda.TooManyRequestsException",
                        "Cause": "Rate Exceeded.",
                    },
                }
            ]
        }
    )
    analysis = analyze(
        [
            SourceBatch(Source.EXECUTION_HISTORY, tuple(history)),
            SourceBatch(Source.EXECUTION_OUTPUT, tuple(output)),
        ]
    )
    (summary,) = analysis.runs
    assert (summary.invocations, summary.errors, summary.throttles, summary.retries) == (1, 1, 3, 2)
    assert summary.cost.requests_usd == 0  # never ran, never billed


def test_logs_alone_count_spillover_as_the_cold_calls_of_a_pc_run() -> None:
    """Text REPORT lines do not say which environments are provisioned, but a call that waited
    for an init was served by an on-demand one: spillover."""
    run = _pc_run(items=4, provisioned=2, map_limit=4)
    logs = synthetic.log_events(run)
    logs["logGroupName"] = f"/aws/lambda/{PC_FUNCTION}"  # as the runner saves a log group's page
    analysis = analyze(
        [SourceBatch(Source.LOGS, tuple(parse_logs(logs)))],
        [RunConfig(name=PC_MACHINE, function_name=PC_FUNCTION, provisioned_concurrency=2)],
    )
    (summary,) = analysis.runs
    assert summary.name == PC_MACHINE and summary.invocations == 4
    assert (summary.cold_starts, summary.spillover) == (2, 2)


def test_an_xray_error_flag_does_not_fail_an_item_step_functions_saw_succeed() -> None:
    run = synthetic.simulate(2, map_limit=2)
    traces = parse_traces(synthetic.xray_traces(run))
    traces[0].error = "Error"  # e.g. the function segment flagged a handled 4xx
    analysis = analyze(
        [
            SourceBatch(
                Source.EXECUTION_HISTORY,
                tuple(parse_execution_history(synthetic.execution_history(run))),
            ),
            SourceBatch(Source.XRAY, tuple(traces)),
        ]
    )
    assert analysis.runs[0].errors == 0
    xray_only = analyze([SourceBatch(Source.XRAY, tuple(traces))])
    assert xray_only.runs[0].errors == 1  # without the caller's view, X-Ray's word stands


def test_every_field_an_adapter_fills_is_one_the_join_reads() -> None:
    """The join only looks where PROVIDES says a source has values: a field an adapter fills
    that is missing there would be dropped silently."""
    from dataclasses import fields as dataclass_fields

    from pclab.analysis.join import PROVIDES

    run = _pc_run(items=6, provisioned=2, map_limit=6, throttle_every=3, fail_items=(4,))
    for batch in _batches(run):
        filled = {
            f.name
            for inv in batch.invocations
            for f in dataclass_fields(inv)
            if getattr(inv, f.name) is not None
            and f.name not in {"sources", "retries", "throttles", "cold", "served_by_pc"}
        }
        assert filled <= PROVIDES[batch.source], filled - PROVIDES[batch.source]


def test_a_run_without_calls_keeps_its_column_and_renders() -> None:
    """An execution that failed before any call: the report still shows the run (and its PC
    bill), next to the run that worked."""
    from rich.console import Console

    from pclab.report.table import render_table

    base = synthetic.simulate(4, map_limit=4)
    analysis = analyze(
        _batches(base),
        [
            RunConfig(name=base.state_machine),
            RunConfig(
                name=PC_MACHINE,
                function_name=PC_FUNCTION,
                provisioned_concurrency=5,
                memory_mb=1024,
            ),
        ],
    )
    empty = analysis.runs[1]
    assert (empty.name, empty.invocations, empty.makespan_s, empty.peak_concurrency) == (
        PC_MACHINE,
        0,
        None,
        0,
    )
    assert empty.cost.pc_allocation_usd == pytest.approx(5 * 300 * PRICE_PC_GB_SECOND)
    console = Console(record=True, width=200)
    render_table(analysis, console)
    assert PC_MACHINE in console.export_text()


def test_failed_items_without_request_ids_stay_in_their_own_run() -> None:
    """Two runs, item 2 failing in both with no request id anywhere (a throttle that outlasted
    the retries): each error joins its own run's history, no stray column appears."""
    runs = [
        synthetic.simulate(3, map_limit=3, fail_items=(2,)),
        _pc_run(items=3, provisioned=3, fail_items=(2,)),
    ]
    outputs: list[SourceBatch] = []
    histories: list[SourceBatch] = []
    for run in runs:
        output = parse_execution_output(
            synthetic.execution_output(run), execution=f"{run.function}-output"
        )
        history = parse_execution_history(synthetic.execution_history(run))
        for record in (*output, *history):
            if record.item_id == "2":
                record.request_id = None
        outputs.append(SourceBatch(Source.EXECUTION_OUTPUT, tuple(output)))
        histories.append(SourceBatch(Source.EXECUTION_HISTORY, tuple(history)))
    analysis = analyze([*outputs, *histories])  # the order `pclab analyze` reads files in
    assert [r.name for r in analysis.runs] == ["BaseConcurrencyTestFunction", PC_FUNCTION]
    assert [(r.invocations, r.errors) for r in analysis.runs] == [(3, 1), (3, 1)]
    assert analysis.notes == ()


def test_a_provisioned_environments_long_initialization_in_the_trace_is_not_a_cold_start() -> None:
    """AWS: with PC, a trace 'might display a function initialization with a very long
    duration' (pre-initialisation up to the first call). Nobody waited for it."""
    run = _pc_run(items=2, provisioned=2, map_limit=2)
    traces = synthetic.xray_traces(run)
    for segment in traces["Traces"][0]["Segments"]:
        document = json.loads(segment["Document"])
        if document.get("origin") == "AWS::Lambda::Function":
            document["subsegments"].insert(
                0,
                {
                    "id": "1" * 16,
                    "name": "Initialization",
                    "start_time": document["start_time"] - 300,
                    "end_time": document["start_time"] - 0.001,
                },
            )
            segment["Document"] = json.dumps(document)
    xray = tuple(parse_traces(traces))
    assert all(inv.xray_initialization for inv in xray)
    # X-Ray alone: the timing shows the init began long before the call
    alone = analyze([SourceBatch(Source.XRAY, xray)])
    assert alone.runs[0].cold_starts == 0
    assert all("pre-initialised" in d.message for d in alone.disagreements)
    # with the handler's word that the environment is provisioned, nothing to report
    both = analyze(
        [
            SourceBatch(Source.XRAY, xray),
            SourceBatch(
                Source.EXECUTION_OUTPUT,
                tuple(parse_execution_output(synthetic.execution_output(run))),
            ),
        ]
    )
    assert both.runs[0].cold_starts == 0 and both.disagreements == ()


def test_handler_says_cold_but_the_trace_has_no_initialization_is_reported() -> None:
    run = synthetic.simulate(2, map_limit=2)
    traces = synthetic.xray_traces(run)
    for segment in traces["Traces"][0]["Segments"]:
        document = json.loads(segment["Document"])
        document["subsegments"] = [
            s for s in document.get("subsegments", []) if s["name"] != "Initialization"
        ]
        segment["Document"] = json.dumps(document)
    analysis = analyze(
        [
            SourceBatch(
                Source.EXECUTION_OUTPUT,
                tuple(parse_execution_output(synthetic.execution_output(run))),
            ),
            SourceBatch(Source.XRAY, tuple(parse_traces(traces))),
        ]
    )
    messages = [d.message for d in analysis.disagreements]
    assert len(messages) == 2 and all(
        m == "handler says first call of its environment (on-demand), but X-Ray shows no "
        "Initialization"
        for m in messages
    )
    assert analysis.runs[0].cold_starts == 0  # X-Ray (Lambda's own record) outranks the handler


def test_a_report_says_which_times_the_local_clouds_platform_model_made() -> None:
    """On the local cloud each call's trace names the platform model; on AWS none does."""
    run = _pc_run(items=6, provisioned=2)
    traces = synthetic.xray_traces(run)
    on_aws = analyze(_batches(run))
    assert not [n for n in on_aws.notes if "platform model" in n]
    assert {inv.platform_model for inv in on_aws.invocations} == {None}

    for trace in traces["Traces"]:
        for segment in trace["Segments"]:
            document = json.loads(segment["Document"])
            if document.get("origin") == "AWS::Lambda":
                document["metadata"] = {"pclab": {"platform_model": "aws"}}
                segment["Document"] = json.dumps(document)
    batches = [b for b in _batches(run) if b.source is not Source.XRAY]
    batches.append(SourceBatch(Source.XRAY, tuple(parse_traces(traces))))
    local = analyze(batches)
    [note] = [n for n in local.notes if "platform model" in n]
    assert note.startswith("6 of 6 calls timed by the local cloud's platform model 'aws'")
    assert "PCLAB_PLATFORM_MODEL=none" in note
    assert {inv.platform_model for inv in local.invocations} == {"aws"}
    # the caller's view is then X-Ray's (the service's), not the history's interpreter stamps
    ends = {c.request_id: c.ended - 0.005 for c in run.calls}
    assert all(inv.ended_at == ends[inv.request_id] for inv in local.invocations)
    assert not all(inv.ended_at == ends[inv.request_id] for inv in on_aws.invocations)


def test_warm_calls_no_source_attributes_to_pc_or_on_demand_are_said_to_be_unattributed() -> None:
    """A stranger's handler reports no initialization type: with traces alone, a warm call on a
    PC alias may have been either; the report says so instead of calling them on-demand."""
    run = _pc_run(items=6, provisioned=2)
    xray_only = [SourceBatch(Source.XRAY, tuple(parse_traces(synthetic.xray_traces(run))))]
    config = RunConfig(name=PC_MACHINE, function_name=PC_FUNCTION, provisioned_concurrency=2)
    [summary] = analyze(xray_only, [config]).runs
    warm_unknown = [n for n in summary.notes if "could not be attributed" in n]
    assert summary.served_by_pc + summary.spillover < 6
    [note] = warm_unknown
    assert note.startswith(f"{6 - summary.served_by_pc - summary.spillover} warm call(s)")
