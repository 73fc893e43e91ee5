"""The Lambda handler, imported for real in a fresh process with small delays set in its env."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HARNESS = Path(__file__).with_name("handler_harness.py")


def run_environment(
    env: dict[str, str],
    calls: list[dict[str, Any]],
    *,
    tmp_path: Path,
    preload: tuple[str, ...] = (),
    restore: bool = False,
    hide: tuple[str, ...] = (),
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """Import the handler in a new process (one "execution environment") and make the calls."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "_X_AMZN", "LAMBDA_", "COLD_START", "FUNCTION_DURATION"))
    }
    proc = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            json.dumps({"calls": calls, "preload": preload, "restore": restore, "hide": hide}),
        ],
        env={**base, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    return proc, report


def ok_results(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    assert report is not None
    for result in report["results"]:
        assert "ok" in result, result
    return [result["ok"] for result in report["results"]]


def test_init_takes_the_cold_start_delay_and_reports_it(tmp_path: Path) -> None:
    # The init also imports aws-xray-sdk, a real part of a cold start but a few hundred ms of
    # noise on a busy machine: import it beforehand, so the timed init is the delay itself.
    proc, report = run_environment(
        {"COLD_START_DELAY": "0.4", "FUNCTION_DURATION": "0"},
        [{"event": {"item": {"id": 1}}}],
        tmp_path=tmp_path,
        preload=("aws_xray_sdk.core",),
    )
    assert proc.returncode == 0, proc.stderr
    assert report is not None
    (result,) = ok_results(report)
    assert report["import_seconds"] >= 0.4
    assert 400 <= result["initDurationMs"] <= report["import_seconds"] * 1000
    init_span_ms = (result["initEndedAt"] - result["initStartedAt"]) * 1000
    assert init_span_ms == pytest.approx(result["initDurationMs"], abs=5)
    # The first call comes right after the init: the caller waited for it.
    assert 0 <= result["sinceInitEndMs"] < 1000
    assert result["initStartedAt"] <= result["initEndedAt"] <= result["startedAt"]


def test_first_call_is_cold_second_is_warm_in_the_same_environment(tmp_path: Path) -> None:
    proc, report = run_environment(
        {
            "COLD_START_DELAY": "0",
            "FUNCTION_DURATION": "0.2",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency",
        },
        [{"event": {"item": {"id": 1}}}, {"event": {"item": {"id": 2, "extra": "kept"}}}],
        tmp_path=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = ok_results(report)
    assert (first["firstInvocation"], second["firstInvocation"]) == (True, False)
    assert first["environmentId"] == second["environmentId"]
    assert first["requestId"] != second["requestId"]
    assert first["initStartedAt"] == second["initStartedAt"]
    assert second["sinceInitEndMs"] >= first["sinceInitEndMs"] + 200
    assert first["initializationType"] == "provisioned-concurrency"
    assert second["item"] == {"id": 2, "extra": "kept"}
    assert second["functionVersion"] == "7"
    assert second["functionName"] == "pclab-BaseConcurrencyTestFunction-abc"
    for result in (first, second):
        assert result["workSeconds"] == 0.2
        assert result["finishedAt"] - result["startedAt"] >= 0.2 - 0.002  # ms rounding


def test_a_new_environment_gets_a_new_id_and_unknown_init_type_outside_lambda(
    tmp_path: Path,
) -> None:
    env = {"COLD_START_DELAY": "0", "FUNCTION_DURATION": "0"}
    call = [{"event": {"item": {"id": 1}}}]
    (a,) = ok_results(run_environment(env, call, tmp_path=tmp_path)[1])
    (b,) = ok_results(run_environment(env, call, tmp_path=tmp_path)[1])
    assert a["environmentId"] != b["environmentId"]
    assert a["initializationType"] == "unknown"
    assert a["firstInvocation"] and b["firstInvocation"]


def test_a_snapstart_restore_is_reported_with_its_own_id_by_the_hook_or_the_init_type(
    tmp_path: Path,
) -> None:
    env = {
        "COLD_START_DELAY": "0",
        "FUNCTION_DURATION": "0",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
    }
    calls = [{"event": {"item": {"id": 1}}}, {"event": {"item": {"id": 2}}}]
    before = time.time()
    hooked = ok_results(run_environment(env, calls, tmp_path=tmp_path, restore=True)[1])
    # without snapshot-restore-py (python3.11) no hook runs: the first call notices the restore
    blocked = ok_results(
        run_environment(env, calls, tmp_path=tmp_path, hide=("snapshot_restore_py",))[1]
    )
    for first, second in (hooked, blocked):
        assert first["initializationType"] == "snap-start"
        assert first["restored"] and second["restored"]
        assert before <= first["restoredAt"] <= first["startedAt"]
        assert second["restoredAt"] == first["restoredAt"]  # once per environment
        assert first["environmentId"] == second["environmentId"]
    assert hooked[0]["environmentId"] != blocked[0]["environmentId"]
    plain = ok_results(
        run_environment(
            {**env, "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}, calls[:1], tmp_path=tmp_path
        )[1]
    )
    assert plain[0]["restored"] is False and plain[0]["restoredAt"] is None


def test_an_items_duration_overrides_the_default(tmp_path: Path) -> None:
    _, report = run_environment(
        {"COLD_START_DELAY": "0", "FUNCTION_DURATION": "5"},
        [{"event": {"item": {"id": 1, "durationSeconds": 0.2}}}],
        tmp_path=tmp_path,
    )
    (result,) = ok_results(report)
    assert result["workSeconds"] == 0.2
    assert 0.2 - 0.002 <= result["finishedAt"] - result["startedAt"] < 2


@pytest.mark.parametrize("variable", ["COLD_START_DELAY", "FUNCTION_DURATION"])
@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("five", "is not a number"),
        ("-1", "must be a finite number of seconds >= 0"),
        ("nan", "must be a finite number of seconds >= 0"),
        ("inf", "must be a finite number of seconds >= 0"),
    ],
)
def test_bad_environment_values_fail_the_init_with_the_fix(
    tmp_path: Path, variable: str, value: str | None, complaint: str
) -> None:
    env = {"COLD_START_DELAY": "0", "FUNCTION_DURATION": "0"}
    if value is None:
        del env[variable]
    else:
        env[variable] = value
    proc, _ = run_environment(env, [], tmp_path=tmp_path)
    assert proc.returncode == 1
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line.startswith("concurrencytest.ConfigurationError: environment variable")
    assert variable in last_line and complaint in last_line
    parameter = (
        "ColdStartDelaySeconds" if variable == "COLD_START_DELAY" else "FunctionDurationSeconds"
    )
    assert parameter in last_line


@pytest.mark.parametrize(
    ("duration", "complaint"),
    [
        ("3", "is not a number"),
        (True, "is not a number"),
        (None, "is not a number"),
        ([1], "is not a number"),
        (-0.5, "must be a finite number of seconds >= 0"),
        (float("inf"), "must be a finite number of seconds >= 0"),
    ],
)
def test_a_bad_item_duration_is_a_handler_error(
    tmp_path: Path, duration: Any, complaint: str
) -> None:
    proc, report = run_environment(
        {"COLD_START_DELAY": "0", "FUNCTION_DURATION": "0"},
        [
            {"event": {"item": {"id": 9, "durationSeconds": duration}}},
            {"event": {"item": {"id": 10}}},
        ],
        tmp_path=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert report is not None
    bad, good = report["results"]
    assert bad["error"] == "InvalidItemError"
    assert bad["message"].startswith("item 9: durationSeconds=")
    assert complaint in bad["message"]
    # The environment survives a bad item, and the failed call did not count as its first.
    assert good["ok"]["firstInvocation"] is True


def test_work_that_cannot_finish_before_the_timeout_is_refused(tmp_path: Path) -> None:
    _, report = run_environment(
        {"COLD_START_DELAY": "0", "FUNCTION_DURATION": "0"},
        [{"event": {"item": {"id": 3, "durationSeconds": 30}}, "remaining_ms": 10_000}],
        tmp_path=tmp_path,
    )
    assert report is not None
    (result,) = report["results"]
    assert result["error"] == "InvalidItemError"
    assert "30 s does not fit in the 10.0 s left" in result["message"]


def test_a_payload_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    _, report = run_environment(
        {"COLD_START_DELAY": "0", "FUNCTION_DURATION": "0"},
        [{"event": [1, 2]}],
        tmp_path=tmp_path,
    )
    assert report is not None
    assert report["results"][0]["error"] == "InvalidItemError"
    assert "must be a JSON object" in report["results"][0]["message"]


def _receive_segments(sock: socket.socket, count: int, deadline: float) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    while len(documents) < count and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        header, _, body = data.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))
    return documents


def test_in_lambda_each_call_sends_a_work_subsegment_annotated_cold_start(tmp_path: Path) -> None:
    """In Lambda mode the X-Ray SDK streams each finished subsegment over UDP to the daemon."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        roots = ["1-6740a000-0123456789abcdef01234567", "1-6740a001-0123456789abcdef01234568"]
        proc, report = run_environment(
            {
                "COLD_START_DELAY": "0",
                "FUNCTION_DURATION": "0.05",
                "LAMBDA_TASK_ROOT": str(tmp_path),
                "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
            },
            [
                {
                    "event": {"item": {"id": n}},
                    "trace_header": f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1",
                }
                for n, root in enumerate(roots, start=1)
            ],
            tmp_path=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        ok_results(report)
        documents = _receive_segments(sock, 2, time.monotonic() + 5)
    work = [d for d in documents if d.get("name") == "work"]
    assert [d["trace_id"] for d in work] == roots
    assert [d["annotations"]["cold_start"] for d in work] == [True, False]
    assert all(d["parent_id"] == "53995c3f42cd8ad8" for d in work)
    assert all(d["end_time"] - d["start_time"] >= 0.05 for d in work)
