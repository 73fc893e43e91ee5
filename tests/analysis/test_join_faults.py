"""One record per call, whatever fails (issue 13): the join never invents a call.

Property-based: hypothesis draws a run (up to 12 items), a fate for each item (answered, handler
error, init error, timeout, killed environment, throttled after retries), which sources are
there (the execution output, the inline Map's history, X-Ray, CloudWatch Logs), and which calls
each Lambda-side source lost; whatever the mix, the analysis holds exactly one record per item,
with its item id, its error, and the sources that saw it.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pclab.analysis.model import Analysis, Invocation, Source, SourceBatch
from pclab.analysis.pipeline import analyze
from pclab.analysis.sources.execution_history import parse_execution_history
from pclab.analysis.sources.execution_output import parse_execution_output
from pclab.analysis.sources.logs import parse_logs
from pclab.analysis.sources.xray import parse_traces

from . import faults

LAMBDA_SIDE = (Source.XRAY, Source.LOGS)


def batches(faulty: faults.FaultyRun, sources: set[Source], *, labelled: bool) -> list[SourceBatch]:
    """The batches ``pclab run`` (labelled) or ``pclab analyze`` (saved files) would build."""
    run = faulty.run
    machine = run.state_machine if labelled else None
    out: list[SourceBatch] = []
    if Source.EXECUTION_OUTPUT in sources:
        output: dict[str, Any] = faults.execution_output(faulty)
        if not labelled:  # the DescribeExecution reply pclab run saves, as pclab analyze reads it
            output = {
                "executionArn": run.execution_arn,
                "stateMachineArn": run.execution_arn.replace(
                    ":execution:", ":stateMachine:"
                ).rsplit(":", 1)[0],
                "status": "SUCCEEDED",
                "output": json.dumps(output),
            }
        records = parse_execution_output(
            output,
            state_machine=machine,
            execution=run.execution_arn if labelled else "describe-execution",
            function_name=run.function if labelled else None,
            qualifier="live" if labelled else None,
        )
        out.append(SourceBatch(Source.EXECUTION_OUTPUT, tuple(records)))
    if Source.EXECUTION_HISTORY in sources:
        records = parse_execution_history(
            faults.execution_history(faulty),
            state_machine=machine,
            execution=run.execution_arn if labelled else None,
        )
        out.append(SourceBatch(Source.EXECUTION_HISTORY, tuple(records)))
    if Source.XRAY in sources:
        records = parse_traces(faults.xray_traces(faulty))
        if labelled:  # as collect.py labels them
            for record in records:
                record.state_machine = record.state_machine or machine
                record.execution = record.execution or run.execution_arn
        out.append(SourceBatch(Source.XRAY, tuple(records)))
    if Source.LOGS in sources:
        records = parse_logs(faults.log_events(faulty))
        if labelled:
            for record in records:
                record.function_name = record.function_name or run.function
                record.state_machine = record.state_machine or machine
        out.append(SourceBatch(Source.LOGS, tuple(records)))
    return out


@st.composite
def scenarios(draw: Any) -> tuple[faults.FaultyRun, set[Source], bool]:
    items = draw(st.integers(min_value=1, max_value=12))
    fates = draw(st.lists(st.sampled_from(faults.KINDS), min_size=items, max_size=items))
    callers = draw(
        st.sampled_from(
            [
                {Source.EXECUTION_OUTPUT},  # a Distributed Map: no task events in the history
                {Source.EXECUTION_OUTPUT, Source.EXECUTION_HISTORY},  # an inline Map
                {Source.EXECUTION_HISTORY},  # the execution's output never came
            ]
        )
    )
    lambda_side = draw(st.sets(st.sampled_from(LAMBDA_SIDE)))
    every_item = st.sets(st.integers(min_value=1, max_value=items))
    faulty = faults.simulate(dict(enumerate(fates, start=1)), items, seed=draw(st.integers(0, 99)))
    faulty.lost = {"xray": draw(every_item), "logs": draw(every_item)}
    return faulty, callers | lambda_side, draw(st.booleans())


def by_item(analysis: Analysis) -> dict[str, Invocation]:
    items = [inv.item_id for inv in analysis.invocations]
    assert None not in items, "a record without an item id: the join invented a call"
    counted = Counter(items)
    assert all(n == 1 for n in counted.values()), f"items counted twice: {counted}"
    return {str(inv.item_id): inv for inv in analysis.invocations}


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(scenarios())
def test_any_mix_of_sources_and_failures_is_one_record_per_item(
    scenario: tuple[faults.FaultyRun, set[Source], bool],
) -> None:
    faulty, sources, labelled = scenario
    analysis = analyze(batches(faulty, sources, labelled=labelled))
    calls = by_item(analysis)
    items = len(faulty.run.calls)
    assert sorted(calls, key=int) == [str(i) for i in range(1, items + 1)]
    (run,) = analysis.runs
    assert run.invocations == items
    failed = {str(i) for i in range(1, items + 1) if faulty.kind(i) != "ok"}
    assert run.errors == len(failed)
    for item, inv in calls.items():
        kind = faulty.kind(int(item))
        assert (inv.error is not None) == (kind != "ok"), (item, kind, inv.error)
        if kind != "ok":
            assert inv.error == faults.ERROR_TYPE[kind], (item, kind, inv.error)
        assert inv.sources >= sources - set(LAMBDA_SIDE), (item, inv.sources)
        assert inv.sources <= sources
    for source, lost_key in ((Source.XRAY, "xray"), (Source.LOGS, "logs")):
        if source not in sources:
            continue
        lost = faulty.lost[lost_key]
        seen_by_lambda = {
            str(i)
            for i in range(1, items + 1)
            if faulty.kind(i) in faults.REACHES_FUNCTION and i not in lost
        }
        # calls the caller named by request id: exactly the ones this source kept
        named = {i for i in seen_by_lambda if faulty.kind(int(i)) in faults.NAMES_REQUEST_ID}
        assert {i for i, inv in calls.items() if source in inv.sources} >= named
        # an init error names none: its Lambda-side record goes to an item that failed the
        # same way, never to a call of its own, never to two items
        saw = {i for i, inv in calls.items() if source in inv.sources}
        assert len(saw) == len(seen_by_lambda), (source, sorted(saw), sorted(seen_by_lambda))
        assert all(faulty.kind(int(i)) in faults.REACHES_FUNCTION for i in saw)


@settings(max_examples=60, deadline=None, database=None)
@given(
    st.lists(st.sampled_from(faults.KINDS), min_size=1, max_size=10),
    st.sets(st.sampled_from(LAMBDA_SIDE), min_size=1),
)
def test_without_the_callers_view_each_lambda_side_call_is_one_record(
    fates: list[str], sources: set[Source]
) -> None:
    """No execution output or history: Lambda's own records are the calls, one per request."""
    faulty = faults.simulate(dict(enumerate(fates, start=1)), len(fates))
    analysis = analyze(batches(faulty, sources, labelled=True))
    reached = [c.request_id for c in faulty.run.calls if faulty.kind(c.item) != "throttle"]
    assert sorted(str(inv.request_id) for inv in analysis.invocations) == sorted(reached)


def test_killed_environments_count_once_as_in_the_issue() -> None:
    """Issue 13's run: 10 items, two environments killed mid-call, every source there."""
    faulty = faults.simulate({3: "killed", 7: "killed"}, 10, map_limit=40)
    sources = {Source.EXECUTION_OUTPUT, Source.XRAY, Source.LOGS}
    analysis = analyze(batches(faulty, sources, labelled=True))
    (run,) = analysis.runs
    assert (run.invocations, run.errors, run.cold_unknown) == (10, 2, 0)
    killed = [inv for inv in analysis.invocations if inv.error]
    assert sorted(str(inv.item_id) for inv in killed) == ["3", "7"]
    for inv in killed:
        assert inv.error == "Runtime.ExitError"
        assert inv.sources == sources
        assert inv.request_id == faulty.run.calls[int(str(inv.item_id)) - 1].request_id
    assert not any("not counted" in note or "tied" in note for note in analysis.notes)


def test_init_errors_tie_by_order_within_their_own_run_and_say_so() -> None:
    """Two runs, each with init errors and no request ids on the caller's side: the Lambda-side
    records stay in their run, and the notes say they were tied by error and order."""
    base = faults.simulate({2: "init", 4: "init"}, 5)
    other = faults.simulate(
        {1: "init"},
        3,
        state_machine="ProvisionedConcurrencyTestStateMachine",
        function="ProvisionedConcurrencyTestFunction",
        start=1_764_000_100.0,
    )
    sources = {Source.EXECUTION_OUTPUT, Source.XRAY, Source.LOGS}
    analysis = analyze(
        [*batches(base, sources, labelled=False), *batches(other, sources, labelled=False)]
    )
    runs = {run.name: run for run in analysis.runs}
    assert {name: run.invocations for name, run in runs.items()} == {
        "BaseConcurrencyTestStateMachine": 5,
        "ProvisionedConcurrencyTestStateMachine": 3,
    }
    for inv in analysis.invocations:
        if inv.error:
            assert inv.sources == sources and inv.cold is True, inv
    assert any("3 failed call(s) named no request id" in note for note in analysis.notes)


@pytest.mark.parametrize("kind", ["timeout", "killed", "handler"])
def test_the_caller_names_the_request_of_a_call_that_did_not_answer(kind: str) -> None:
    request = "4f5e8a52-9b1c-4c42-8f7e-0d3b7c6e1a90"
    document = {
        "results": [{"id": 1, "error": {"Error": "E", "Cause": faults.cause(kind, request)}}]
    }
    (record,) = parse_execution_output(document)
    assert record.request_id == request


def test_an_init_error_names_no_request() -> None:
    document = {"results": [{"id": 1, "error": {"Error": "E", "Cause": faults.cause("init", "x")}}]}
    (record,) = parse_execution_output(document)
    assert record.request_id is None
