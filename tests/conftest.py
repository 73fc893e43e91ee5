"""Which tests run beside others: `make test` runs two pytest-xdist workers (--dist loadgroup).

Everything that starts real processes, a local cloud, or times what it sees (end to end, the
execution environments, the SAM app's handler and state machine, the runner against moto) runs
one test after another on one worker, as it always did: their bounds were set for one suite on
2 cores. Only the pure parts run on the other worker beside them: the analysis, the planner, the
Lambda model, the report (not its browser test), the query engines and the source checks. On 2 cores
the suite's wall time was mostly waiting (user + sys CPU 7.5 min of 12 min wall), so that worker
uses time the first leaves idle. Without xdist (`pytest` alone) nothing changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Pure: no process, no local cloud, no clock in an assertion.
BESIDE = (
    "analysis/",
    "plan/",
    "lambda_model/",
    "report/",
    "localcloud/queries/",
    "test_import_graph.py",
    "test_source_size.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        relative = Path(str(item.fspath)).resolve().relative_to(TESTS).as_posix()
        if item.get_closest_marker("slow") or not relative.startswith(BESIDE):
            item.add_marker(pytest.mark.xdist_group("one-at-a-time"))
