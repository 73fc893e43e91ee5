"""A function runs on the Python its Runtime names when this machine has it (runtimes.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pclab.localcloud.environments import EnvironmentManager
from pclab.localcloud.environments.runtimes import Runtimes, find_python

from .conftest import MemorySink, make_spec
from .helpers import body, invoke

VERSION_HANDLER = """
import os, sys
def handler(event, context):
    return {"version": list(sys.version_info[:2]), "executable": sys.executable,
            "env": os.environ.get("AWS_EXECUTION_ENV")}
"""


def test_the_hosts_runtime_is_the_host() -> None:
    runtimes = Runtimes()
    host = runtimes.resolve(runtimes.host_runtime)
    assert host.note is None and not host.substituted
    assert runtimes.resolve(runtimes.host_runtime) is host  # resolved once


@pytest.mark.parametrize("minor", [12, 13])
def test_a_function_runs_on_the_python_its_runtime_names(
    minor: int, manager: EnvironmentManager, sink: MemorySink
) -> None:
    if find_python(3, minor) is None:
        pytest.skip(f"no Python 3.{minor} on this machine (pyenv or python3.{minor} on PATH)")
    runtime = f"python3.{minor}"
    ran = manager._runtimes.resolve(runtime)  # may make its virtual environment (PyPI) once
    if ran.substituted:
        pytest.skip(f"{runtime} is here but could not be prepared: {ran.note}")
    spec = replace(make_spec(f"py3{minor}", files={"app.py": VERSION_HANDLER}), runtime=runtime)
    doc = body(invoke(manager, spec))
    assert doc["version"] == [3, minor]
    assert doc["env"] == f"AWS_Lambda_{runtime}"
    manager.flush_telemetry()
    [start] = [m for m in sink.messages(f"/aws/lambda/py3{minor}") if m.startswith("INIT_START")]
    assert start.startswith(f"INIT_START Runtime Version: python:3.{minor}.local-3.{minor}.")
    assert "Declared Runtime" not in start


def test_a_runtime_missing_here_runs_on_the_host_and_init_start_says_so(
    manager: EnvironmentManager, sink: MemorySink
) -> None:
    spec = replace(make_spec("py399", files={"app.py": VERSION_HANDLER}), runtime="python3.99")
    doc = body(invoke(manager, spec))
    assert doc["version"] == [3, 11]
    manager.flush_telemetry()
    [start] = [m for m in sink.messages("/aws/lambda/py399") if m.startswith("INIT_START")]
    assert start.startswith("INIT_START Runtime Version: python:3.11.local-3.11.")
    assert "\tDeclared Runtime: python3.99 (ran on Python 3.11." in start
    assert "no Python 3.99 on this machine" in start


def test_a_runtime_that_cannot_be_prepared_falls_back_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if find_python(3, 12) is None:
        pytest.skip("no Python 3.12 on this machine")
    # pip cannot reach an index: what happens offline.
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "1")
    ran = Runtimes(cache_dir=tmp_path).resolve("python3.12")
    assert ran.substituted and ran.version.startswith("3.11")
    assert ran.note is not None and "could not be installed" in ran.note
    assert "check PyPI access" in ran.note
