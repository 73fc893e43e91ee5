"""Shared fixtures of the planner tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis import synthetic

from pclab.analysis.model import RunConfig, Source, SourceBatch
from pclab.analysis.pipeline import analyze
from pclab.analysis.sources.execution_history import parse_execution_history
from pclab.analysis.sources.execution_output import parse_execution_output


@pytest.fixture(scope="session")
def report_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real report.json, written by the report code from a simulated run of the sample."""
    from pclab.report import write_report

    run = synthetic.simulate(30, map_limit=10)
    batches = [
        SourceBatch(
            Source.EXECUTION_OUTPUT,
            tuple(parse_execution_output(synthetic.execution_output(run))),
        ),
        SourceBatch(
            Source.EXECUTION_HISTORY,
            tuple(parse_execution_history(synthetic.execution_history(run))),
        ),
    ]
    analysis = analyze(batches, [RunConfig(name=run.state_machine, max_concurrency=0)])
    folder = tmp_path_factory.mktemp("report")
    return write_report(analysis, folder, charts=False).json
