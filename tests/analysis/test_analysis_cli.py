"""``pclab analyze`` on saved files: the report a user gets, and one clear line for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pclab.cli import main

from . import synthetic

PC_FUNCTION = "ProvisionedConcurrencyTestFunction"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """What a user saved with the AWS CLI for both runs (small: 12 items, 6 at a time)."""
    folder = tmp_path_factory.mktemp("saved")
    base = synthetic.simulate(12, map_limit=6)
    pc = synthetic.simulate(
        12,
        provisioned=6,
        map_limit=6,
        state_machine="ProvisionedConcurrencyTestStateMachine",
        function=PC_FUNCTION,
        start=1_764_000_100.0,
    )
    files: dict[str, Path] = {}
    for name, run in (("base", base), ("pc", pc)):
        for kind, document in (
            ("history", synthetic.execution_history(run)),
            ("traces", synthetic.xray_traces(run)),
            ("output", synthetic.execution_output(run)),
        ):
            files[f"{name}-{kind}"] = folder / f"{name}-{kind}.json"
            files[f"{name}-{kind}"].write_text(json.dumps(document))
        # logs as plain exported text: the REPORT lines only
        lines = [e["message"] for e in synthetic.log_events(run)["events"]]
        files[f"{name}-logs"] = folder / f"{name}-logs.txt"
        files[f"{name}-logs"].write_text("".join(lines))
    return files


def test_analyze_all_sources_writes_the_report(
    saved: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    argv = ["analyze", "--out", str(out), "--provisioned-concurrency", f"{PC_FUNCTION}=6"]
    for name in ("base", "pc"):
        argv += ["--execution-history", str(saved[f"{name}-history"])]
        argv += ["--xray", str(saved[f"{name}-traces"]), "--logs", str(saved[f"{name}-logs"])]
        argv += ["--execution-output", str(saved[f"{name}-output"])]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "BaseConcurrencyTestStateMachine: 6 of 12 calls cold" in printed.replace("\n", " ")
    report = json.loads((out / "report.json").read_text())
    base, pc = report["runs"]  # in the order they ran
    assert (base["name"], base["cold_starts"], base["served_by_pc"]) == (
        "BaseConcurrencyTestStateMachine",
        6,
        0,
    )
    assert (pc["cold_starts"], pc["served_by_pc"], pc["provisioned_concurrency"]) == (0, 12, 6)
    assert all(len(inv["sources"]) == 4 for inv in report["invocations"])
    assert (out / "report.html").exists() and (out / "latency.png").exists()


def test_analyze_with_logs_alone(saved: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "logs-only"
    assert (
        main(["analyze", "--logs", str(saved["base-logs"]), "--out", str(out), "--no-charts"]) == 0
    )
    (run,) = json.loads((out / "report.json").read_text())["runs"]
    assert (run["invocations"], run["cold_starts"]) == (12, 6)
    assert not (out / "report.html").exists()


def test_a_distributed_map_parent_history_is_an_absent_source_not_an_error(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    # What `pclab run` saves for LoadMode=DISTRIBUTED (the default): the parent's history has
    # the Map Run but no task events. Re-analysing the saved files must still work.
    events = ["ExecutionStarted", "MapStateEntered", "MapRunStarted", "MapRunSucceeded"]
    history = {
        "events": [
            {"id": n, "type": kind, "timestamp": "2025-11-24T16:00:00+00:00"}
            for n, kind in enumerate(events, 1)
        ]
    }
    parent = _write(tmp_path, "parent-history.json", json.dumps(history))
    out = tmp_path / "report"
    argv = ["analyze", "--out", str(out), "--no-charts", "--execution-history", str(parent)]
    assert main([*argv, "--execution-output", str(saved["base-output"])]) == 0
    report = json.loads((out / "report.json").read_text())
    (run,) = report["runs"]
    assert (run["invocations"], run["cold_starts"]) == (12, 6)
    assert any("Distributed Map" in note for note in report["notes"]), report["notes"]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda d, s: ["--execution-history", str(d / "missing.json")],
            "missing.json: no such file",
        ),
        (lambda d, s: ["--xray", str(_write(d, "x.json", "{oops"))], "x.json: not JSON"),
        (
            lambda d, s: ["--execution-history", str(s["base-traces"])],
            'base-traces.json: expected a GetExecutionHistory reply {"events": [...]}',
        ),
        (
            lambda d, s: ["--xray", str(_write(d, "t.json", '{"Traces": []}'))],
            "t.json: no Lambda function segments",
        ),
        (lambda d, s: ["--logs", str(_write(d, "l.txt", "hello\n"))], "l.txt: no REPORT lines"),
        (lambda d, s: [], "no input files"),
        (
            lambda d, s: ["--logs", str(s["base-logs"]), "--provisioned-concurrency", "Nope=3"],
            "--provisioned-concurrency Nope=...: no run or function of that name",
        ),
        (
            lambda d, s: ["--logs", str(s["base-logs"]), "--provisioned-concurrency", "x"],
            "expected NAME=N",
        ),
    ],
    ids=[
        "missing",
        "not-json",
        "wrong-kind",
        "empty-traces",
        "no-report",
        "none",
        "pc-name",
        "pc-form",
    ],
)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(
    make: object,
    expected: str,
    saved: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "never"
    argv = ["analyze", "--out", str(out), *make(tmp_path, saved)]  # type: ignore[operator]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and expected in error and error.startswith("pclab: error: ")
    assert not out.exists()


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


LOCAL_CLOUD_RUN = Path(__file__).parent / "data" / "localcloud"


def test_documents_saved_from_a_local_cloud_run(tmp_path: Path) -> None:
    """The four documents `pclab demo` saved (raw/) for the provisioned state machine: 12 items
    at once, PC 6, 1 s init, 0.5 s work. Six calls spill over to on-demand and wait for init."""
    out = tmp_path / "report"
    argv = ["analyze", "--out", str(out), "--no-charts"]
    argv += ["--execution-output", str(LOCAL_CLOUD_RUN / "describe-execution.json")]
    argv += ["--execution-history", str(LOCAL_CLOUD_RUN / "history.json")]
    argv += ["--xray", str(LOCAL_CLOUD_RUN / "traces.json")]
    argv += ["--logs", str(LOCAL_CLOUD_RUN / "logs.json")]
    argv += ["--provisioned-concurrency", "ProvisionedConcurrencyTestStateMachine-D8880SESDPVT=6"]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    (run,) = report["runs"]
    assert (run["invocations"], run["served_by_pc"], run["spillover"], run["cold_starts"]) == (
        12,
        6,
        6,
        6,
    )
    assert all(len(call["sources"]) == 4 for call in report["invocations"])
    assert report["disagreements"] == []
    cold = run["latency_s"]["caller_cold"]["p50"]
    warm = run["latency_s"]["caller_warm"]["p50"]
    assert cold == pytest.approx(1.0 + 0.5, abs=0.7) and warm == pytest.approx(0.5, abs=0.1)
    assert run["billed"]["estimated"] is False and run["memory_mb"] == 128
