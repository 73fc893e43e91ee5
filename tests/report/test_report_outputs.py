"""What the report shows: the terminal table, report.json, the PNG charts, and the HTML page
rendered in a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from analysis import synthetic
from matplotlib import image as mpimage
from rich.console import Console

from pclab.analysis.model import Analysis, RunConfig, Source, SourceBatch
from pclab.analysis.pipeline import analyze
from pclab.analysis.sources.execution_history import parse_execution_history
from pclab.analysis.sources.execution_output import parse_execution_output
from pclab.analysis.sources.xray import parse_traces
from pclab.report import write_report
from pclab.report.charts import INIT_COLOR, ON_DEMAND_COLOR, PC_COLOR
from pclab.report.json_report import SCHEMA
from pclab.report.table import column_titles, render_table

BASE = "BaseConcurrencyTestStateMachine"
PC = "ProvisionedConcurrencyTestStateMachine"
ARMS = (("Base", "H27UVQTWC8FZ"), ("Provisioned", "8J1EGACW1OQB"), ("SnapStart", "0AFADC23OKJN"))


def _analysis(items: int = 30, map_limit: int = 10, disagree: bool = False) -> Analysis:
    base = synthetic.simulate(items, map_limit=map_limit)
    pc = synthetic.simulate(
        items,
        provisioned=items,
        map_limit=map_limit,
        state_machine=PC,
        function="ProvisionedConcurrencyTestFunction",
        start=1_764_000_100.0,
    )
    batches = []
    for run in (base, pc):
        output = synthetic.execution_output(run)
        if disagree and run is base:
            output["results"][0]["first"] = False
        batches += [
            SourceBatch(
                Source.EXECUTION_OUTPUT,
                tuple(parse_execution_output(output, state_machine=run.state_machine)),
            ),
            SourceBatch(
                Source.EXECUTION_HISTORY,
                tuple(
                    parse_execution_history(
                        synthetic.execution_history(run), state_machine=run.state_machine
                    )
                ),
            ),
            SourceBatch(Source.XRAY, tuple(parse_traces(synthetic.xray_traces(run)))),
        ]
    batches.append(SourceBatch(Source.LOGS, provided=False, note="logs not delivered yet"))
    return analyze(
        batches,
        [
            RunConfig(name=BASE, max_concurrency=0),
            RunConfig(name=PC, provisioned_concurrency=items, max_concurrency=0),
        ],
    )


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return _analysis(disagree=True)


def test_terminal_table_puts_the_runs_side_by_side(analysis: Analysis) -> None:
    console = Console(record=True, width=220)
    render_table(analysis, console)
    text = console.export_text()
    assert BASE in text and PC in text
    cold_row = next(line for line in text.splitlines() if "Cold starts (caller" in line)
    assert "10 (33 %)" in cold_row and "0 (0 %)" in cold_row
    served_row = next(line for line in text.splitlines() if "Served by provisioned" in line)
    assert "30 (100 %)" in served_row
    assert f"{BASE}: 10 of 30 calls cold (cold p50 8." in text
    assert "CloudWatch Logs not available: logs not delivered yet" in text
    assert "1 disagreement(s) between sources" in text and "handler says warm" in text


def test_three_arms_read_in_80_columns() -> None:
    """The demo's three state machines side by side in a terminal of 80 columns: short column
    titles (their names' own words, not folded mid-word), the full names in the first row."""
    names = [f"{arm}ConcurrencyTestStateMachine-{suffix}" for arm, suffix in ARMS]
    runs = [
        synthetic.simulate(10, map_limit=10, state_machine=name, start=1_764_000_000.0 + 100 * i)
        for i, name in enumerate(names)
    ]
    batches = [
        SourceBatch(
            Source.EXECUTION_OUTPUT,
            tuple(
                parse_execution_output(synthetic.execution_output(r), state_machine=r.state_machine)
            ),
        )
        for r in runs
    ]
    console = Console(record=True, width=80)
    render_table(analyze(batches, [RunConfig(name=n) for n in names]), console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "Base" in line)
    assert header.split() == ["┃", "┃", "Base", "┃", "Provisioned", "┃", "SnapStart", "┃"]
    assert any(line.startswith("│ State machine") and "BaseConcurrencyTe" in line for line in lines)
    assert column_titles(["BaseStateMachine", "OneStateMachine"]) == ["Base", "One"]
    assert column_titles(["fn-a", "fn-a"]) == ["fn-a", "fn-a"]  # nothing tells them apart


def test_report_json_follows_the_documented_schema(analysis: Analysis, tmp_path: Path) -> None:
    files = write_report(analysis, tmp_path, charts=False)
    report = json.loads(files.json.read_text())
    assert report["schema"] == SCHEMA
    assert set(report) == {
        "schema",
        "generated_at",
        "prices_usd",
        "runs",
        "disagreements",
        "notes",
        "invocations",
    }
    base, pc = report["runs"]
    assert base["latency_s"]["caller_cold"]["p50"] == pytest.approx(8.2, abs=0.15)
    assert base["latency_s"]["caller_warm"]["p50"] == pytest.approx(3.03, abs=0.05)
    assert (base["cold_starts"], pc["cold_starts"], pc["served_by_pc"]) == (10, 0, 30)
    assert pc["cost_usd"]["pc_hourly"] == pytest.approx(30 * 0.125 * 0.0000041667 * 3600)
    assert {c["source"]: c["provided"] for c in base["coverage"]}["logs"] is False
    assert report["disagreements"][0]["topic"] == "cold"
    assert len(report["invocations"]) == 60
    call = report["invocations"][0]
    assert {
        "run",
        "request_id",
        "item_id",
        "cold",
        "served_by_pc",
        "caller_latency_s",
        "sources",
    } <= set(call)
    # every documented key is present (docs/report-json.md lists them)
    documented = Path(__file__).resolve().parents[2] / "docs" / "report-json.md"
    doc_text = documented.read_text()
    for key in [*base, *base["latency_s"], *base["cost_usd"], *base["billed"], *call]:
        assert f"`{key}`" in doc_text, f"{key} missing from docs/report-json.md"


def _share_of_color(pixels: object, color: str, tolerance: float = 0.06) -> float:
    """Fraction of pixels within ``tolerance`` of a #rrggbb colour."""
    import numpy as np

    array = np.asarray(pixels)[..., :3].astype(float)
    if array.max() > 1.0:
        array = array / 255.0
    target = np.array([int(color[i : i + 2], 16) / 255.0 for i in (1, 3, 5)])
    close = np.all(np.abs(array - target) <= tolerance, axis=-1)
    return float(close.mean())


def test_charts_tell_cold_from_warm_at_a_glance(analysis: Analysis, tmp_path: Path) -> None:
    # an earlier report of another stack in the same folder: its charts must not stay behind
    (tmp_path / "timeline-OtherStateMachine-OLD.png").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("the user's own file stays")
    files = write_report(analysis, tmp_path)
    names = sorted(path.name for path in files.charts)
    assert names == ["latency.png", f"timeline-{BASE}.png", f"timeline-{PC}.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names, "report.json", "report.html", "notes.txt"]
    )
    base_timeline = mpimage.imread(tmp_path / f"timeline-{BASE}.png")
    pc_timeline = mpimage.imread(tmp_path / f"timeline-{PC}.png")
    # reserved: init bars (orange) before on-demand invocations (blue); PC: no init, PC bars
    assert _share_of_color(base_timeline, INIT_COLOR) > 0.05
    assert _share_of_color(base_timeline, ON_DEMAND_COLOR) > 0.05
    assert _share_of_color(base_timeline, PC_COLOR) == 0
    assert _share_of_color(pc_timeline, PC_COLOR) > 0.05
    assert _share_of_color(pc_timeline, INIT_COLOR) < 0.001  # the legend has no init entry
    latency = mpimage.imread(tmp_path / "latency.png")
    assert (
        _share_of_color(latency, INIT_COLOR) > 0.001
        and _share_of_color(latency, ON_DEMAND_COLOR) > 0.001
    )
    # without charts, no page or chart of the earlier report describes the new report.json
    write_report(analysis, tmp_path, charts=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "report.json"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _screenshot(page: Path, shot: Path, profile: Path) -> None:
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1280,3200",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs Debian's chromium)"
)
def test_report_html_renders_with_its_charts_in_chromium(
    analysis: Analysis, tmp_path: Path
) -> None:
    files = write_report(analysis, tmp_path / "report")
    assert files.html is not None
    html = files.html.read_text()
    assert html.count('<img src="data:image/png;base64,') == 3 and "<script" not in html
    assert "http://" not in html and "https://" not in html and "<link" not in html
    # the page stands alone: move it away from the PNG files
    alone = tmp_path / "alone" / "report.html"
    alone.parent.mkdir()
    alone.write_text(html)
    _screenshot(alone, tmp_path / "shot.png", tmp_path / "profile")
    shot = mpimage.imread(tmp_path / "shot.png")
    assert _share_of_color(shot, INIT_COLOR) > 0.002, "no cold-start (init) bars drawn on the page"
    assert _share_of_color(shot, ON_DEMAND_COLOR) > 0.002
    assert _share_of_color(shot, PC_COLOR) > 0.002
    # and the check can fail: the same page with undecodable images shows none of the colours
    broken = tmp_path / "broken" / "report.html"
    broken.parent.mkdir()
    broken.write_text(html.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAAA"))
    _screenshot(broken, tmp_path / "broken.png", tmp_path / "profile2")
    broken_shot = mpimage.imread(tmp_path / "broken.png")
    assert _share_of_color(broken_shot, INIT_COLOR) < 0.0005
