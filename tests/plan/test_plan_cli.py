"""``pclab plan`` end to end: the files and table a user gets, the recommendation, bad input."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pclab.cli import main
from pclab.plan.output import SCHEMA

PCLAB = Path(sys.executable).with_name("pclab")
DOC = Path(__file__).resolve().parents[2] / "docs" / "plan.md"
SCHEDULE = "00:00-00:10=6,else=2"
COMMAND = [
    "plan",
    "--rate",
    "20",
    "--seconds",
    "1200",
    "--duration-ms",
    "250",
    "--init-ms",
    "800",
    "--pc",
    "0",
    "3",
    "8",
    "--schedule",
    SCHEDULE,
    "--target-utilization",
    "0.7:2-20",
    "--target-p99",
    "0.5",
    "--seed",
    "7",
]


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The command as a user runs it: a real process, from its own working directory."""
    folder = tmp_path_factory.mktemp("plan")
    done = subprocess.run(
        [str(PCLAB), *COMMAND, "--out", "my-plan"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return folder / "my-plan", done.stdout


def test_plan_writes_json_page_and_charts_and_prints_the_table(planned: tuple[Path, str]) -> None:
    out, printed = planned
    assert sorted(p.name for p in out.iterdir()) == [
        "concurrency.png",
        "frontier.png",
        "plan.html",
        "plan.json",
    ]
    for name in ("PC 0", "PC 3", "PC 8", f"schedule {SCHEDULE}", "target 0.7:2-20"):
        assert name in printed
    assert "is the cheapest option meeting p99 <= 0.5 s" in printed
    page = (out / "plan.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2 and "<script" not in page
    first_image = page.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(first_image)[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"schedule {SCHEDULE}" in page


def test_the_recommendation_is_the_cheapest_option_meeting_the_goal(
    planned: tuple[Path, str],
) -> None:
    plan = json.loads((planned[0] / "plan.json").read_text())
    assert plan["schema"] == SCHEMA
    levels = plan["levels"]
    assert [level["kind"] for level in levels] == [
        "fixed",
        "fixed",
        "fixed",
        "schedule",
        "target-tracking",
    ]
    meeting = [
        level
        for level in levels
        if level["latency_s"]["p99"] <= 0.5 and level["throttled_calls"] == 0
    ]
    assert meeting  # a goal no option meets would not test the choice
    cheapest = min(meeting, key=lambda level: level["cost_usd"]["per_day"])
    assert plan["recommendation"]["option"] == cheapest["name"]
    for level in levels:  # every call is accounted for, once
        assert (
            level["served_by_pc"] + level["served_on_demand"] + level["throttled_calls"]
            == (level["calls"])
        )
        cost = level["cost_usd"]
        parts = cost["allocation"] + cost["duration"] + cost["requests"]
        assert cost["total"] == pytest.approx(parts)
        assert cost["per_day"] == pytest.approx(cost["total"] * 86400 / 1200)
    schedule = levels[3]
    assert (schedule["pc_units"]["min"], schedule["pc_units"]["max"]) == (2, 6)


def _keys(value: Any, found: set[str]) -> set[str]:
    """Every key of every object in ``value``, series lists excepted (their items are numbers)."""
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            _keys(item, found)
    elif isinstance(value, list):
        for item in value:
            _keys(item, found)
    return found


def test_every_key_of_plan_json_is_documented(planned: tuple[Path, str]) -> None:
    plan = json.loads((planned[0] / "plan.json").read_text())
    documented = DOC.read_text()
    assert f"`{SCHEMA}`" in documented
    for key in sorted(_keys(plan, set())):
        assert f"`{key}`" in documented, f"{key} missing from docs/plan.md"


def _plan(tmp_path: Path, *argv: str) -> dict[str, Any]:
    out = tmp_path / "out"
    assert main(["plan", *argv, "--out", str(out), "--no-charts", "--workers", "1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["plan.json"]
    return dict(json.loads((out / "plan.json").read_text()))


def test_the_same_seed_gives_the_same_plan(tmp_path: Path) -> None:
    argv = ("--rate", "5", "--seconds", "600", "--duration-ms", "400", "--pc", "1", "2")
    first = _plan(tmp_path / "a", *argv, "--seed", "3")
    again = _plan(tmp_path / "b", *argv, "--seed", "3")
    other = _plan(tmp_path / "c", *argv, "--seed", "4")
    assert first["levels"] == again["levels"]
    assert first["levels"] != other["levels"]


def test_without_options_it_compares_levels_from_the_load(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "--arrivals", "uniform", "--rate", "8", "--seconds", "300",
                 "--duration-ms", "375")  # fmt: skip
    # 8/s x 0.375 s: exactly 3 in flight at every instant
    assert [level["name"] for level in plan["levels"]] == ["PC 0", "PC 3"]
    assert plan["inputs"]["offered_concurrency"]["peak"] == 3
    assert "No --pc" in plan["notes"][0]
    assert plan["recommendation"]["option"] is None
    assert plan["recommendation"]["reason"].startswith("No goal given")


def test_no_option_meeting_the_goal_is_said_clearly(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "--rate", "10", "--seconds", "300", "--pc", "0", "1",
                 "--max-cold-share", "0")  # fmt: skip
    recommendation = plan["recommendation"]
    assert recommendation["option"] is None
    assert recommendation["reason"].startswith("No option meets cold share <= 0.00%")


def test_arrivals_from_a_report_with_its_measured_distributions(
    tmp_path: Path, report_json: Path
) -> None:
    plan = _plan(tmp_path, "--from-report", str(report_json), "--pc", "0", "10", "30")
    inputs = plan["inputs"]
    assert inputs["arrivals"]["kind"] == "report" and inputs["arrivals"]["calls"] == 30
    assert (inputs["duration"]["kind"], inputs["init"]["kind"]) == ("measured", "measured")
    pc0, _, pc30 = plan["levels"]
    assert pc0["cold_starts"] > 0 and pc30["cold_starts"] == 0


def test_arrivals_from_a_csv_file(tmp_path: Path) -> None:
    counts = tmp_path / "calls.csv"
    counts.write_text("second,calls\n" + "".join(f"{s},{10}\n" for s in range(120)))
    plan = _plan(tmp_path, "--arrivals", "uniform", "--arrivals-file", str(counts), "--pc", "2")
    assert plan["inputs"]["arrivals"]["kind"] == "csv"
    assert plan["levels"][0]["calls"] == 1200


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "0"], "--rate 0: use a number above 0"),
        (["--schedule", "08:00=5"], "is not a range; write HH:MM-HH:MM"),
        (["--schedule", "25:00-26:00=5"], "'25:00' is not a time"),
        (["--pc", "950"], "PC 950: provisioned concurrency 950 would leave less than 100"),
        (["--reserved", "50", "--pc", "60"], "more than the reserved concurrency of 50"),
        (["--arrivals", "file"], "--arrivals file needs --arrivals-file"),
        (["--memory", "64"], "--memory 64: Lambda memory is 128 to 10240 MB"),
        (["--target-utilization", "2"], "give a utilization in (0, 1]"),
        (["--arrivals-file", "missing.csv"], "missing.csv: no such file"),
        (["--from-report", "missing.json"], "missing.json: no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["plan", "--seconds", "60", *argv, "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 1
    assert error.startswith("pclab: error: ") and error.count("\n") == 1
    assert message in error
    assert not (tmp_path / "out").exists()


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--arrivals", "sometimes"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
