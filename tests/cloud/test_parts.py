"""One run, several executions (issues 13 and 15): items one execution cannot hold (256 KiB of
results, failures included; 240 s of arrivals) run as several executions of the same state
machine, and the report still shows one run with every item once. On moto in this process,
with the runner's limits lowered (RunOptions.limits) so a few items need several executions."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from pclab.cli import main
from pclab.cloud import input as run_input
from pclab.cloud.aws import Clients
from pclab.cloud.collect import PollPolicy
from pclab.cloud.errors import RunnerError
from pclab.cloud.parts import Limits, failure_bytes, plan
from pclab.cloud.run import RunOptions, RunResult, run
from pclab.compose import finish_run
from pclab.plan.replay import run_arrivals

from .test_arrivals import arrival_zeros, executions_given, stack_with

# each part holds 3 items' worst-case output (failed, with a Cause of 512 bytes), 2 s of arrivals
SMALL = Limits(payload_bytes=3 * failure_bytes(10) + 20, window_s=2)


def test_a_large_burst_is_cut_into_even_parts_that_fit_even_if_every_item_fails() -> None:
    parts = plan(run_input.generate(1500))
    assert [len(part.run_input.items) for part in parts] == [375] * 4  # issue 13's 1,500
    assert {part.window for part in parts} == {0}  # one window: started together
    for part in parts:
        worst = sum(failure_bytes(item["id"]) for item in part.run_input.items)
        assert worst + len('{"results":[]}') <= run_input.PAYLOAD_LIMIT_BYTES
    assert len(plan(run_input.generate(300))) == 1  # the sample's sizes stay one execution


def test_an_hour_of_arrivals_is_cut_into_windows_of_at_most_240_s() -> None:
    hour = run_input.with_arrivals([second // 2 for second in range(7200)], "an hour")
    parts = plan(hour)
    windows: dict[int, list[int]] = {}
    for part in parts:
        windows.setdefault(part.window, []).extend(
            item["startAfterSeconds"] for item in part.run_input.items
        )
    assert len(windows) == 15  # 3600 s / 241 s (0..240 inclusive)
    for window, offsets in windows.items():
        anchor = next(p.anchor_s for p in parts if p.window == window)
        assert anchor == min(offsets) and max(offsets) - anchor <= 240
    assert sorted(o for offsets in windows.values() for o in offsets) == sorted(
        item["startAfterSeconds"] for item in hour.items
    )
    with pytest.raises(RunnerError, match="one run replays at most 3600 s"):
        plan(run_input.with_arrivals([0, 86_000], "t"), Limits(run_span_s=3600))


def run_split(clients: Clients, tmp_path: Path, given: run_input.ExecutionInput) -> RunResult:
    options = RunOptions(
        stack="pclab",
        run_input=given,
        out_dir=tmp_path / "out",
        late_sources=PollPolicy(deadline_seconds=0.3, settle_seconds=0.1),
        limits=SMALL,
        poll_seconds=0.05,
    )
    console = Console(file=io.StringIO(), width=100)
    result = run(options, console, clients)
    assert finish_run(result, console, charts=False) == 0
    return result


def test_a_burst_too_big_for_one_execution_runs_as_parts_started_together_and_reports_one_run(
    clients: Clients, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_with(clients, "DISTRIBUTED")
    result = run_split(clients, tmp_path, run_input.generate(8))
    given = executions_given(clients)
    assert len(given) == 6  # 8 items, 3 a part: 3 executions per state machine
    assert sorted(len(items) for _, items in given) == [2, 2, 3, 3, 3, 3]
    for label in ("reserved", "provisioned"):
        runs = [e for e in result.executions if e.target.label == label]
        assert sorted(e.part for e in runs) == [1, 2, 3]
        starts = [e.started_at for e in runs]
        assert max(starts) - min(starts) < 1.0  # a burst stays a burst
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    assert {r["name"]: r["invocations"] for r in report["runs"]} == {"Base": 8, "Provisioned": 8}
    for name in ("Base", "Provisioned"):
        items = [c["item_id"] for c in report["invocations"] if c["state_machine"] == name]
        assert sorted(items, key=int) == [str(n) for n in range(1, 9)]  # each item once
    assert any("as 3 executions" in note for note in report["notes"])
    saved = sorted(p.name for p in (out / "raw" / "Base").glob("describe-execution*.json"))
    assert saved == ["describe-execution-2.json", "describe-execution-3.json",
                     "describe-execution.json"]  # fmt: skip
    assert (out / "raw/Base/history-3.json").is_file()
    # pclab analyze reads the parts back as one run
    capsys.readouterr()
    files = [str(out / "raw/Base" / name) for name in saved]
    again = tmp_path / "again"
    options = [arg for path in files for arg in ("--execution-output", path)]
    assert main(["analyze", *options, "--out", str(again), "--no-charts"]) == 0
    analyzed = json.loads((again / "report.json").read_text())
    assert [(r["name"], r["invocations"]) for r in analyzed["runs"]] == [("Base", 8)]
    # a later run with fewer parts leaves no part files of this one behind
    run_split(clients, tmp_path, run_input.generate(2))
    left = {p.name for p in (out / "raw" / "Base").iterdir()}
    assert {"describe-execution.json", "history.json"} <= left
    assert not {name for name in left if name.endswith(("-2.json", "-3.json"))}


def test_arrivals_longer_than_a_window_start_each_window_just_in_time_from_one_zero(
    clients: Clients, tmp_path: Path
) -> None:
    stack_with(clients, "DISTRIBUTED")
    result = run_split(clients, tmp_path, run_input.with_arrivals([0, 1, 3, 4, 5], "t"))
    # windows [0, 1] and [3, 4, 5]: at most 2 s of arrivals each
    assert [e.part for e in result.executions] == [1, 2, 1, 2]  # reserved, then provisioned
    for label in ("reserved", "provisioned"):
        runs = [e for e in result.executions if e.target.label == label]
        given = [json.loads((e.describe or {})["input"])["items"] for e in runs]
        (zero,) = set().union(*(arrival_zeros(items) for items in given))  # one zero per run
        for execution, items in zip(runs, given, strict=True):
            offsets = [item["startAfterSeconds"] for item in items]
            assert max(offsets) - min(offsets) <= 2
            # each part starts its lead (2 s) before its window's first arrival, not earlier
            first = zero + min(offsets)
            assert first - 2 - 1.0 <= execution.started_at <= first + 0.5, (first, execution)
        assert [items[0]["startAfterSeconds"] for items in given] == [0, 3]
        if label == "reserved":  # the planner's replay reads both parts' items, one zero
            replayed = run_arrivals(tmp_path / "out", "Base")
            assert (replayed.zero, sorted(replayed.offsets.values())) == (zero, [0, 1, 3, 4, 5])
    assert len(executions_given(clients)) == 4


def test_a_capped_map_runs_a_burst_that_fits_as_one_and_refuses_one_that_needs_parts(
    clients: Clients, tmp_path: Path
) -> None:
    stack_with(clients, "DISTRIBUTED", max_concurrency="5")
    tight = Limits(payload_bytes=run_input.output_bytes(run_input.generate(4).items) + 5)
    quick = PollPolicy(deadline_seconds=0.3, settle_seconds=0.1)
    options = RunOptions(
        "pclab", run_input.generate(4), tmp_path / "o", limits=tight, late_sources=quick
    )
    result = run(options, Console(file=io.StringIO()), clients)
    assert [e.part for e in result.executions] == [1, 1]  # successes fit: one execution each
    too_many = RunOptions("pclab", run_input.generate(9), tmp_path / "o", limits=tight)
    with pytest.raises(RunnerError, match=r"MapMaxConcurrency=5 caps each execution"):
        run(too_many, Console(file=io.StringIO()), clients)
