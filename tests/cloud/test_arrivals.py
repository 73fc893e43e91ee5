"""``pclab run``/``demo --arrivals``: the items a user gets, and what is refused before anything
starts (bad options, a Map that would start the items late). On moto in this process; the
arrivals through the real local cloud are in test_arrivals_e2e.py."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pclab.cli import main
from pclab.cloud.aws import Clients
from pclab.cloud.input import with_arrivals
from pclab.plan import arrivals

from .conftest import FAKE_RESULT_MACHINE, create_machine, experiment_outputs

CLOSED = "http://127.0.0.1:9"  # nothing answers: a command that reached for it would say so


def stack_with(clients: Clients, load_mode: str, max_concurrency: str = "0") -> None:
    """The experiment's outputs and the two parameters the runner reads, as the template has."""
    reserved = create_machine(clients, "Base", FAKE_RESULT_MACHINE)
    provisioned = create_machine(clients, "Provisioned", FAKE_RESULT_MACHINE)
    template = {
        "Parameters": {
            "LoadMode": {"Type": "String", "Default": load_mode},
            "MapMaxConcurrency": {"Type": "String", "Default": max_concurrency},
        },
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            key: {"Value": value}
            for key, value in experiment_outputs(reserved, provisioned).items()
        },
    }
    clients.cloudformation.create_stack(StackName="pclab", TemplateBody=json.dumps(template))


def run(out: Path, *options: str) -> int:
    command = ["run", "--stack", "pclab", "--out", str(out), "--no-charts"]
    return main([*command, "--source-wait", "0.3", *options])


def executions_given(clients: Clients) -> list[tuple[float, list[dict[str, Any]]]]:
    """(start, items) of every execution, in the order they were started."""
    sfn = clients.stepfunctions
    found = []
    for machine in sfn.list_state_machines()["stateMachines"]:
        for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])[
            "executions"
        ]:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            items = json.loads(described["input"])["items"]
            found.append((described["startDate"].timestamp(), items))
    return sorted(found, key=lambda pair: pair[0])


def executed_items(clients: Clients) -> list[list[dict[str, Any]]]:
    """Each execution's items as the user gave them (without the startAt pclab stamps)."""
    return [
        [{k: v for k, v in item.items() if k != "startAt"} for item in items]
        for _, items in executions_given(clients)
    ]


def arrival_zeros(items: list[dict[str, Any]]) -> set[float]:
    """startAt - startAfterSeconds of each stamped item: one value if they share a time zero."""
    return {
        datetime.fromisoformat(item["startAt"]).timestamp() - item["startAfterSeconds"]
        for item in items
    }


def test_poisson_arrivals_become_whole_second_offsets_the_planner_would_simulate(
    clients: Clients, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_with(clients, "DISTRIBUTED")
    options = ["--arrivals", "poisson", "--rate", "4", "--seconds", "10", "--seed", "5"]
    assert run(tmp_path / "r", *options, "--duration-ms", "250") == 0
    assert "items arrive over" in capsys.readouterr().out
    expected = arrivals.poisson(4.0, 10.0, np.random.default_rng([5, 1])).times
    for items in executed_items(clients):  # both state machines got the same items
        assert [item["startAfterSeconds"] for item in items] == np.floor(expected).tolist()
        assert [item["id"] for item in items] == list(range(1, len(expected) + 1))
        assert {item["durationSeconds"] for item in items} == {0.25}
    # arrivals ask for calls at their offsets, not for as many at once as there are items
    for run_summary in json.loads((tmp_path / "r" / "report.json").read_text())["runs"]:
        assert run_summary["concurrency"]["asked"] is None


def test_each_execution_gets_its_arrival_times_stamped_when_it_starts(
    clients: Clients, tmp_path: Path
) -> None:
    """startAt = the execution's own time zero + offset: the calls arrive at their offsets from
    the execution's start however late the Map starts each child (docs/execute.md)."""
    stack_with(clients, "DISTRIBUTED")
    options = ["--arrivals", "uniform", "--rate", "2", "--seconds", "3", "--duration-ms", "50"]
    assert run(tmp_path / "r", *options) == 0
    given = executions_given(clients)
    assert len(given) == 2  # reserved, then provisioned once the first has ended
    for started, items in given:
        (zero,) = arrival_zeros(items)  # one time zero per execution, whole seconds, UTC
        assert zero == int(zero) and all(item["startAt"].endswith("Z") for item in items)
        # a lead of 2 s (rounded up to a whole second) after this execution's own start
        assert 2.0 - 0.5 <= zero - started <= 3.0 + 0.5, zero - started
    # an execution started later (the provisioned one after the reserved has ended) gets later
    # times, not the first one's: by then those have passed and its calls would come at once
    later = with_arrivals([0, 1], "t")
    assert arrival_zeros(later.stamped(1_000_000.2).items) == {1_000_003.0}
    assert arrival_zeros(later.stamped(1_000_100.0).items) == {1_000_102.0}
    # many items: the lead leaves the Map time to start every child before the first is due
    # (25 a second, the slowest rate measured), never more than 30 s
    many = with_arrivals([0] * 500 + [10], "t")
    assert arrival_zeros(many.stamped(1_000_000.0).items) == {1_000_021.0}
    crowd = with_arrivals([i % 200 for i in range(1000)], "t")
    assert arrival_zeros(crowd.stamped(1_000_000.0).items) == {1_000_030.0}


def test_the_burst_and_hand_written_offsets_the_state_machine_refuses_go_unstamped(
    clients: Clients, tmp_path: Path
) -> None:
    stack_with(clients, "DISTRIBUTED")
    assert run(tmp_path / "burst", "--items", "2") == 0
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"items": [{"id": 1, "startAfterSeconds": 1.5}, {"id": 2}]}))
    assert run(tmp_path / "odd", "--input", str(odd)) == 0
    for _, items in executions_given(clients):
        assert all("startAt" not in item for item in items), items


def test_an_input_with_its_own_start_at_is_refused_before_anything_starts(
    clients: Clients, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack_with(clients, "DISTRIBUTED")
    given = tmp_path / "given.json"
    given.write_text(json.dumps({"items": [{"id": 1, "startAt": "2030-01-01T00:00:00Z"}]}))
    assert run(tmp_path / "r", "--input", str(given)) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "item 1 has startAt" in line and "give startAfterSeconds" in line
    assert executions_given(clients) == []


def test_a_csv_of_calls_per_second_is_replayed_second_by_second(
    clients: Clients, tmp_path: Path
) -> None:
    stack_with(clients, "DISTRIBUTED", max_concurrency="0")
    csv = tmp_path / "calls.csv"
    csv.write_text("second,calls\n1700000000,2\n1700000003,1\n")
    assert run(tmp_path / "r", "--arrivals-file", str(csv)) == 0
    for items in executed_items(clients):
        assert items == [
            {"id": 1, "startAfterSeconds": 0},
            {"id": 2, "startAfterSeconds": 0},
            {"id": 3, "startAfterSeconds": 3},
        ]


@pytest.mark.parametrize(
    ("load_mode", "max_concurrency", "named"),
    [("INLINE", "0", "LoadMode=INLINE"), ("DISTRIBUTED", "5", "MapMaxConcurrency=5")],
)
def test_a_map_that_would_start_items_late_is_refused_before_any_execution(
    clients: Clients,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    load_mode: str,
    max_concurrency: str,
    named: str,
) -> None:
    stack_with(clients, load_mode, max_concurrency)
    assert run(tmp_path / "r", "--arrivals", "uniform", "--rate", "2", "--seconds", "5") == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert named in line and "LoadMode=DISTRIBUTED MapMaxConcurrency=0" in line
    assert executed_items(clients) == []
    # the original burst still runs on that stack
    assert run(tmp_path / "burst", "--items", "3") == 0


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--arrivals", "poisson", "--rate", "10"], "needs --rate R"),
        (["--arrivals", "poisson", "--rate", "0", "--seconds", "5"], "--rate 0"),
        (["--arrivals", "ramp", "--rate", "nan", "--seconds", "5"], "--rate nan"),
        (["--arrivals", "uniform", "--rate", "1", "--seconds", "90000"], "at most 86400 (24 h"),
        (["--arrivals", "uniform", "--rate", "1", "--seconds", "5", "--duration-ms", "-1"], "0 to"),
        (["--arrivals", "file"], "needs --arrivals-file"),
        (["--arrivals-file", "missing.csv"], "no such file"),
        (["--arrivals", "ramp", "--arrivals-file", "calls.csv"], "use poisson or uniform"),
        (["--arrivals-file", "calls.csv", "--rate", "3"], "use one"),
        (["--arrivals-file", "bad.csv"], "line 2: second 'x'"),
        (["--arrivals-file", "long.csv"], "arrive after 90000 s"),
        (["--rate", "3"], "add --arrivals"),
    ],
)
def test_bad_arrival_options_are_one_line_and_reach_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    named: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "calls.csv").write_text("0,3\n")
    (tmp_path / "bad.csv").write_text("second,calls\nx,3\n")
    (tmp_path / "long.csv").write_text("0,1\n90000,1\n")
    for command in (["run", "--stack", "s", "--endpoint-url", CLOSED], ["demo"]):
        assert main([*command, *options]) == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("pclab: error: ") and named in line, line
    assert not (tmp_path / "pclab-report").exists()  # the demo started nothing


def test_the_demo_refuses_an_inline_map_for_arrivals_before_starting_a_cloud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pclab.cloud.demo import parameter_overrides

    monkeypatch.chdir(tmp_path)
    arriving = ["demo", "--arrivals", "uniform", "--rate", "2", "--seconds", "3"]
    assert main([*arriving, "--parameter-overrides", "LoadMode=INLINE"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "LoadMode=INLINE" in line and "leave LoadMode and MapMaxConcurrency out" in line
    assert not (tmp_path / "pclab-report").exists()
    # without an override it deploys the Distributed Map; the burst keeps the sample's inline one
    assert parameter_overrides(["ProvisionedConcurrency=2"], arrivals=True) == (
        "ProvisionedConcurrency=2",
        "LoadMode=DISTRIBUTED",
    )
    assert parameter_overrides([], arrivals=False) == ("LoadMode=INLINE",)
