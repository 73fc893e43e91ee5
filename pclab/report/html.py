"""report.html: one self-contained page (charts embedded as base64 PNG, CSS inline).

Self-contained because it gets mailed, attached to tickets and opened from CI artifacts, where
side files go missing. No scripts, no external fonts or styles.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pclab.analysis.model import Analysis
from pclab.report.table import all_notes, headline, subject, summary_rows

MAX_DISAGREEMENT_ROWS = 200

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1240px; color: #1d1f23; padding: 0 16px; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d5d8de; padding-bottom: 4px; }
p.lead { color: #50555e; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #d5d8de; padding: 4px 10px; text-align: left; vertical-align: top; }
thead th { background: #f1f2f4; }
tbody th { font-weight: 600; background: #fafbfc; white-space: nowrap; }
figure { margin: 16px 0 28px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e5e9; }
figcaption { color: #50555e; font-size: 0.85rem; margin-top: 4px; }
ul.notes li { margin-bottom: 4px; }
ul.answer { font-size: 1.02rem; font-weight: 600; padding-left: 1.2rem; }
span.sub { padding-left: 1.2rem; font-weight: 400; }
"""

_CAPTIONS = {
    "latency": "Latency per call as the caller saw it: cold calls waited for an init, warm ones "
    "did not. Dashed lines mark the medians.",
    "timeline": "One row per execution environment, like the X-Ray timeline: grey is the caller "
    "waiting, orange the init it waited for, blue an invocation on an on-demand environment, "
    "green one on a provisioned environment.",
}


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    kind = "latency" if path.stem == "latency" else "timeline"
    title = (
        "Latency, cold vs warm"
        if kind == "latency"
        else f"Timeline: {path.stem.removeprefix('timeline-')}"
    )
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(title)}">'
        f"<figcaption>{html.escape(_CAPTIONS[kind])}</figcaption></figure>"
    )


def render_html(
    analysis: Analysis, charts: Sequence[Path], *, generated_at: datetime | None = None
) -> str:
    """The page as a string."""
    when = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>pclab report: cold starts and provisioned concurrency</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Cold starts and provisioned concurrency</h1>",
        f'<p class="lead">pclab report, generated {esc(when)}. Prices: us-east-1, x86 '
        "(see report.json for the rates).</p>",
    ]
    if analysis.runs:
        parts.append('<ul class="answer">')
        parts.extend(f"<li>{esc(line)}</li>" for line in headline(analysis))
        parts.append("</ul>")
        parts.append("<h2>Side by side</h2><table><thead><tr><th></th>")
        parts.extend(f"<th>{esc(run.name)}</th>" for run in analysis.runs)
        parts.append("</tr></thead><tbody>")
        for label, cells in summary_rows(analysis):
            label_html = esc(label.lstrip())
            if label.startswith(" "):  # a detail of the row above
                label_html = f'<span class="sub">{label_html}</span>'
            parts.append(
                f"<tr><th>{label_html}</th>"
                + "".join(f"<td>{esc(c)}</td>" for c in cells)
                + "</tr>"
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No calls found in the given sources.</p>")
    if charts:
        parts.append("<h2>Charts</h2>")
        parts.extend(_image(path) for path in charts)
    notes = all_notes(analysis)
    if notes:
        parts.append('<h2>Notes</h2><ul class="notes">')
        parts.extend(f"<li>{esc(note)}</li>" for note in notes)
        parts.append("</ul>")
    if analysis.disagreements:
        shown = analysis.disagreements[:MAX_DISAGREEMENT_ROWS]
        parts.append(
            f"<h2>Where the sources disagree ({len(analysis.disagreements)})</h2>"
            "<table><thead><tr><th>run</th><th>request / item</th><th>topic</th>"
            "<th>what the sources said</th></tr></thead><tbody>"
        )
        for d in shown:
            parts.append(
                f"<tr><td>{esc(d.run)}</td><td>{esc(subject(d))}</td><td>{esc(d.topic)}</td>"
                f"<td>{esc(d.message)}</td></tr>"
            )
        parts.append("</tbody></table>")
        if len(analysis.disagreements) > len(shown):
            parts.append(f"<p>{len(analysis.disagreements) - len(shown)} more in report.json.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html_report(analysis: Analysis, path: Path, charts: Sequence[Path]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(analysis, charts), encoding="utf-8")
    return path
