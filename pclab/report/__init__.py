"""Rendering of the analysis model: terminal table, report.json, report.html, PNG charts.

Knows the analysis model only (DESIGN.md). Entry point: :func:`write_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pclab.analysis.model import Analysis


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    json: Path
    html: Path | None = None
    charts: tuple[Path, ...] = field(default_factory=tuple)


def write_report(analysis: Analysis, out_dir: Path, *, charts: bool = True) -> ReportFiles:
    """Write ``report.json`` and, with ``charts``, the PNG charts and ``report.html``."""
    from pclab.report.json_report import write_json_report

    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_earlier_report(out_dir)
    json_path = write_json_report(analysis, out_dir / "report.json")
    if not charts:
        return ReportFiles(json=json_path)
    # imported here: matplotlib takes most of a second to import, report.json needs none of it
    from pclab.report.charts import write_charts
    from pclab.report.html import write_html_report

    pngs = write_charts(analysis, out_dir)
    html_path = write_html_report(analysis, out_dir / "report.html", pngs)
    return ReportFiles(json=json_path, html=html_path, charts=tuple(pngs))


def _remove_earlier_report(out_dir: Path) -> None:
    """Delete what an earlier report wrote here (our own file names only), so the folder never
    mixes runs: another stack's timeline-<run>.png, or a report.html that --no-charts would leave
    describing an older report.json."""
    stale = [out_dir / "report.html", out_dir / "latency.png", *out_dir.glob("timeline-*.png")]
    for path in stale:
        path.unlink(missing_ok=True)
