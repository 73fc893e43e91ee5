"""``pclab run`` whole, on moto: both state machines in the sample's order, every source tried,
the report and the raw documents written, and a failed execution still reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pclab.cli import main
from pclab.cloud.aws import Clients

from .conftest import (
    FAILING_MACHINE,
    FAKE_RESULT_MACHINE,
    create_machine,
    create_stack,
    experiment_outputs,
)


def fake_stack(clients: Clients, provisioned_definition: dict[str, Any]) -> None:
    reserved = create_machine(clients, "Base", FAKE_RESULT_MACHINE)
    provisioned = create_machine(clients, "Provisioned", provisioned_definition)
    create_stack(clients, "pclab", experiment_outputs(reserved, provisioned))


def run_cli(out: Path, *extra: str) -> int:
    return main(
        [
            "run",
            "--stack",
            "pclab",
            "--out",
            str(out),
            "--no-charts",
            "--source-wait",
            "0.3",
            *extra,
        ]
    )


def test_run_reports_both_machines_and_saves_what_analyze_reads(
    clients: Clients, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_stack(clients, FAKE_RESULT_MACHINE)
    out = tmp_path / "report"
    assert run_cli(out, "--items", "5") == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    report = json.loads((out / "report.json").read_text())
    runs = {run["name"]: run for run in report["runs"]}
    assert set(runs) == {"Base", "Provisioned"}
    assert all(run["invocations"] == 5 for run in runs.values())
    for machine in ("Base", "Provisioned"):
        describe = json.loads((out / f"raw/{machine}/describe-execution.json").read_text())
        assert describe["status"] == "SUCCEEDED"
        history = json.loads((out / f"raw/{machine}/history.json").read_text())
        assert sum(e["type"] == "MapIterationSucceeded" for e in history["events"]) == 5
    # the sample's order: the provisioned execution starts after the reserved one ended
    base = json.loads((out / "raw/Base/describe-execution.json").read_text())
    prov = json.loads((out / "raw/Provisioned/describe-execution.json").read_text())
    assert prov["startDate"] >= base["stopDate"]
    # the absent sources are named, not fatal (moto has no traces or logs for these)
    assert "X-Ray" in captured.out and "not available" in captured.out


def test_failed_execution_is_reported_written_and_exits_non_zero(
    clients: Clients, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_stack(clients, FAILING_MACHINE)
    out = tmp_path / "report"
    assert run_cli(out, "--items", "3", "--together") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("pclab: error: the provisioned execution pclab-provisioned-")
    assert err[0].endswith("failed: Pclab.TestError it broke on purpose")
    # what was collected is still written: the reserved run in full, the failed one's history
    report = json.loads((out / "report.json").read_text())
    assert [run["name"] for run in report["runs"] if run["invocations"] == 3] == ["Base"]
    assert (out / "raw/Provisioned/history.json").is_file()


def test_raw_documents_of_an_earlier_run_do_not_stay_beside_the_new_ones(tmp_path: Path) -> None:
    from pclab.cloud.run import write_raw

    old = tmp_path / "raw" / "BaseConcurrencyTestStateMachine-OLD"
    old.mkdir(parents=True)
    (old / "history.json").write_text("{}")
    kept = tmp_path / "raw" / "mine"
    kept.mkdir()
    (kept / "notes.txt").write_text("the user's own file stays")
    written = write_raw(tmp_path, {"raw/Machine-NEW/history.json": {"events": []}})
    assert written == [tmp_path / "raw" / "Machine-NEW" / "history.json"]
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["Machine-NEW", "mine"]
    assert (kept / "notes.txt").exists()


def test_a_start_refused_after_others_ran_keeps_their_results(
    clients: Clients, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The provisioned state machine is gone by the time its turn comes (deleted, or its
    StartExecution refused for any reason): the reserved run is still reported, and the report
    says what did not run."""
    fake_stack(clients, FAKE_RESULT_MACHINE)
    [gone] = [
        m["stateMachineArn"]
        for m in clients.stepfunctions.list_state_machines()["stateMachines"]
        if m["name"] == "Provisioned"
    ]
    clients.stepfunctions.delete_state_machine(stateMachineArn=gone)
    out = tmp_path / "report"
    assert run_cli(out, "--items", "4") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Provisioned" in err[0], err
    assert "marked incomplete" in err[0]
    report = json.loads((out / "report.json").read_text())
    assert [run["name"] for run in report["runs"] if run["invocations"] == 4] == ["Base"]
    assert "not started" in json.dumps(report["incomplete"])
