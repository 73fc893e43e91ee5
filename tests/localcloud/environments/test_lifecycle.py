"""One environment's life through the real runtime client: cold, warm, errors, deaths, telemetry."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pclab.localcloud.environments import EnvironmentManager
from pclab.localcloud.invocation import InvokeResult

from .conftest import TEST_HANDLER, MemorySink, assert_gone, make_spec
from .helpers import body, invoke, invoke_many


def test_cold_then_warm_in_the_same_environment_with_lambdas_variables(
    manager: EnvironmentManager, sink: MemorySink
) -> None:
    spec = make_spec("life", init_delay=0.3, work=0.1, env={"GREETING": "hi"})
    t0 = time.time()
    first = invoke(manager, spec, {"id": 1}, tail=True)
    cold_wall = time.time() - t0
    second = invoke(manager, spec, {"id": 2}, tail=True)
    a, b = body(first), body(second)

    assert a["first"] is True and b["first"] is False
    assert a["env"] == b["env"], "a warm invocation reuses the environment"
    assert cold_wall >= 0.4, "the caller waited for the init (0.3 s) and the work (0.1 s)"
    assert a["initType"] == "on-demand"
    v = a["vars"]
    assert v["AWS_LAMBDA_FUNCTION_NAME"] == "life"
    assert v["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert v["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert v["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/life"
    assert v["AWS_LAMBDA_LOG_STREAM_NAME"].split("/")[3].startswith("[$LATEST]")
    assert v["LAMBDA_TASK_ROOT"] == a["cwd"]
    assert v["TZ"] == ":UTC" and v["AWS_REGION"] == "us-east-1" and v["GREETING"] == "hi"
    assert v["_HANDLER"] == "app.handler" and v["AWS_XRAY_DAEMON_ADDRESS"].startswith("127.0.0.1:")
    assert v["TMPDIR"] and v["TMPDIR"] != "/tmp"
    assert 8000 < a["remainingMs"] <= 10000, "the deadline header carries the 10 s timeout"
    assert a["trace"].endswith("Sampled=0"), "an untraced call still gets a trace header"

    cold_log = base64.b64decode(first.log_result or "").decode()
    warm_log = base64.b64decode(second.log_result or "").decode()
    assert cold_log.startswith(f"START RequestId: {first.request_id} Version: $LATEST")
    assert f"handling 1 in {a['env']}" in cold_log
    assert f"END RequestId: {first.request_id}" in cold_log
    report = next(line for line in cold_log.splitlines() if line.startswith("REPORT"))
    assert "\tDuration: " in report and "\tBilled Duration: " in report
    assert "\tMemory Size: 128 MB\tMax Memory Used: " in report
    init_ms = float(report.split("Init Duration: ")[1].split(" ms")[0])
    assert 300 <= init_ms < 3000
    assert "Init Duration" not in warm_log, "a warm start has no Init Duration"

    manager.flush_telemetry()
    streams = [s for g, s in sink.logs if g == "/aws/lambda/life"]
    assert len(streams) == 1, "one log stream per environment"
    messages = sink.messages("/aws/lambda/life")
    assert messages[0].startswith("INIT_START Runtime Version: python:3.11")
    assert "init done " + a["env"] in messages
    assert sum(m.startswith("REPORT") for m in messages) == 2


def test_handler_error_is_unhandled_with_the_runtimes_payload(manager: EnvironmentManager) -> None:
    spec = make_spec("errs", init_delay=0, work=0)
    result = invoke(manager, spec, {"id": 5, "mode": "raise"}, tail=True)
    assert result.function_error == "Unhandled"
    doc = json.loads(result.payload)
    assert doc["errorType"] == "ValueError" and doc["errorMessage"] == "bad item 5"
    assert doc["requestId"] == result.request_id and doc["stackTrace"]
    log = base64.b64decode(result.log_result or "").decode()
    assert "[ERROR] ValueError: bad item 5" in log
    # The environment survives a handler error and serves the next call warm.
    assert body(invoke(manager, spec, {"id": 6}))["first"] is False


@pytest.mark.parametrize(
    ("files", "handler", "env", "error_type", "message_part"),
    [
        (
            {"app.py": "import not_installed_anywhere\n"},
            "app.handler",
            {},
            "Runtime.ImportModuleError",
            "Unable to import module 'app'",
        ),
        (None, "app.nothere", {}, "Runtime.HandlerNotFound", "Handler 'nothere' missing"),
        (None, "app.handler", {"FAIL_AT_IMPORT": "boom"}, "RuntimeError", "init exploded: boom"),
        (
            None,
            "app.handler",
            {"EXIT_AT_IMPORT": "1"},
            "Runtime.ExitError",
            "Runtime exited with error: exit status 3",
        ),
    ],
    ids=["import-error", "handler-not-found", "exception-at-import", "exit-at-import"],
)
def test_init_errors_are_reported_as_lambda_does(
    manager: EnvironmentManager,
    files: dict[str, str] | None,
    handler: str,
    env: dict[str, str],
    error_type: str,
    message_part: str,
) -> None:
    spec = make_spec("initerr", init_delay=0, handler=handler, files=files, env=env)
    result = invoke(manager, spec, {"id": 1})
    assert result.status_code == 200 and result.function_error == "Unhandled"
    doc = json.loads(result.payload)
    assert doc["errorType"] == error_type
    assert message_part in doc["errorMessage"]
    assert manager.stats("initerr").environments == 0, "a failed environment is not kept"


def test_sample_handler_bad_environment_fails_init_with_its_message(
    manager: EnvironmentManager,
) -> None:
    from .conftest import sample_spec

    base = sample_spec("badenv", init_delay=0, work=0)
    spec = type(base)(
        **{**vars(base), "environment": {"COLD_START_DELAY": "soon", "FUNCTION_DURATION": "0"}}
    )
    result = invoke(manager, spec, {"item": {"id": 1}})
    doc = json.loads(result.payload)
    assert result.function_error == "Unhandled"
    assert doc["errorType"] == "ConfigurationError"
    assert "COLD_START_DELAY='soon' is not a number" in doc["errorMessage"]


def test_timeout_kills_the_environment_and_others_are_unaffected(
    manager: EnvironmentManager, sink: MemorySink
) -> None:
    spec = make_spec("slow", init_delay=0, work=0.2, timeout=1)
    with ThreadPoolExecutor(4) as pool:
        hung = pool.submit(invoke, manager, spec, {"id": 1, "sleep": 5}, tail=True)
        time.sleep(0.5)
        hung_pids = manager.environment_pids("slow")  # the one environment, busy sleeping
        fine = [pool.submit(invoke, manager, spec, {"id": i}) for i in (2, 3)]
        timed_out = hung.result()
        others = [body(f.result()) for f in fine]
    assert len(hung_pids) == 1 and hung_pids[0] not in [o["pid"] for o in others]
    assert timed_out.function_error == "Unhandled"
    doc = json.loads(timed_out.payload)
    assert doc == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": (
            f"RequestId: {timed_out.request_id} Error: Task timed out after 1.00 seconds"
        ),
    }
    log = base64.b64decode(timed_out.log_result or "").decode()
    assert f"{timed_out.request_id} Task timed out after 1.00 seconds" in log
    assert "Status: timeout" in log
    assert all(o["id"] in (2, 3) for o in others)
    assert_gone(hung_pids, timeout=2.0)  # killed at the timeout, not when its sleep ends
    # The next call still works (a new or another environment).
    assert body(invoke(manager, spec, {"id": 9}))["id"] == 9


@pytest.mark.parametrize("how", ["sys.exit", "SIGKILL from outside"])
def test_a_dying_environment_is_reported_as_exit_error_and_replaced(
    manager: EnvironmentManager, how: str
) -> None:
    spec = make_spec("dies", init_delay=0, work=0)
    pid = body(invoke(manager, spec, {"id": 0}))["pid"]
    if how == "sys.exit":
        result = invoke(manager, spec, {"id": 1, "mode": "exit"})
        expected = "Runtime exited with error: exit status 7"
    else:
        with ThreadPoolExecutor(1) as pool:
            fut = pool.submit(invoke, manager, spec, {"id": 1, "sleep": 3})
            time.sleep(0.5)
            os.killpg(pid, signal.SIGKILL)
            result = fut.result()
        expected = "Runtime exited with error: signal: killed"
    assert isinstance(result, InvokeResult) and result.function_error == "Unhandled"
    doc = json.loads(result.payload)
    assert doc["errorType"] == "Runtime.ExitError"
    assert doc["errorMessage"] == f"RequestId: {result.request_id} Error: {expected}"
    assert_gone([pid])
    after = body(invoke(manager, spec, {"id": 2}))
    assert after["first"] is True and after["pid"] != pid, "a new environment replaced it"


def test_init_longer_than_the_limit_is_run_again_inside_the_first_invoke(
    sink: MemorySink,
) -> None:
    mgr = EnvironmentManager(sink, init_limit_seconds=0.3)
    try:
        spec = make_spec("slowinit", init_delay=0.6, work=0, timeout=5)
        t0 = time.time()
        doc = body(invoke(mgr, spec, {"id": 1}))
        assert time.time() - t0 >= 0.9, "the caller waited for the cut init and the second one"
        assert doc["first"] is True
        mgr.flush_telemetry()
        assert any(
            m.startswith("INIT_REPORT Init Duration") and "Status: timeout" in m
            for m in sink.messages()
        )
    finally:
        pids = mgr.environment_pids()
        mgr.shutdown()
        assert_gone(pids)


def test_idle_environments_are_reaped(sink: MemorySink) -> None:
    mgr = EnvironmentManager(sink, idle_timeout_seconds=0.3)
    try:
        spec = make_spec("idle", init_delay=0, work=0)
        pid = body(invoke(mgr, spec))["pid"]
        envs = mgr._work_dir / "envs"  # each environment's /tmp lives here while it runs
        assert any(envs.iterdir())
        assert_gone([pid], timeout=5)
        assert mgr.stats("idle").environments == 0
        deadline = time.monotonic() + 5  # removed off the event loop thread, soon after
        while any(envs.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(envs.iterdir()), "a reaped environment's /tmp is removed with it"
        assert body(invoke(mgr, spec))["first"] is True, "after reaping, the next call is cold"
    finally:
        pids = mgr.environment_pids()
        mgr.shutdown()
        assert_gone(pids)


def test_shutdown_stops_busy_environments_and_leaves_no_process(sink: MemorySink) -> None:
    mgr = EnvironmentManager(sink)
    spec = make_spec("busy", init_delay=0, work=0)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(invoke_many, mgr, spec, [{"id": i, "sleep": 30}]) for i in range(3)]
        deadline = time.monotonic() + 10
        while mgr.stats("busy").inflight < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        pids = mgr.environment_pids()
        assert len(pids) == 3
        t0 = time.monotonic()
        mgr.shutdown()
        for f in futures:
            f.result(timeout=10)
    assert time.monotonic() - t0 < 5
    assert_gone(pids)


def test_environments_run_in_their_own_session_so_ctrl_c_does_not_reach_them(
    manager: EnvironmentManager,
) -> None:
    spec = make_spec("session", init_delay=0, work=0)
    pid = body(invoke(manager, spec))["pid"]
    assert os.getpgid(pid) == pid and os.getsid(pid) == pid
    assert os.getsid(pid) != os.getsid(0) and os.getpgid(pid) != os.getpgid(0)


def test_a_declared_runtime_missing_here_is_said_once(
    manager: EnvironmentManager, caplog: pytest.LogCaptureFixture
) -> None:
    # A runtime this machine has runs on it (test_runtimes.py); one it lacks runs on the host's
    # Python, and the local cloud says so once per function.
    from dataclasses import replace

    spec = replace(make_spec("rt", init_delay=0, work=0), runtime="python3.99")
    with caplog.at_level("WARNING", logger="pclab.localcloud.environments.manager"):
        body(invoke(manager, spec))
        body(invoke(manager, spec))
    said = [
        r.getMessage() for r in caplog.records if "declares runtime python3.99" in r.getMessage()
    ]
    assert len(said) == 1, said
    assert "runs it on Python 3.11" in said[0] and "no Python 3.99 on this machine" in said[0]


def test_event_and_dry_run_invocations_and_a_large_payload(manager: EnvironmentManager) -> None:
    from pclab.localcloud.invocation import InvokeRequest

    echo = "def handler(event, context):\n    print('got', len(event['blob']))\n    return event\n"
    spec = make_spec("kinds", init_delay=0, work=0, files={"app.py": echo})
    blob = {"blob": "x" * 3_000_000}  # Lambda allows 6 MB synchronously
    result = invoke(manager, spec, blob)
    assert result.function_error is None and json.loads(result.payload) == blob
    dry = manager.invoke(InvokeRequest(spec, b"{}", None, invocation_type="DryRun"))
    assert (dry.status_code, dry.payload) == (204, b"")
    before = manager.stats("kinds").invocations
    queued = manager.invoke(InvokeRequest(spec, b'{"blob": "y"}', None, invocation_type="Event"))
    assert (queued.status_code, queued.payload) == (202, b"")
    deadline = time.monotonic() + 10
    while manager.stats("kinds").invocations == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert manager.stats("kinds").invocations == before + 1, "the event ran in the background"


def test_an_environment_that_cannot_start_is_a_service_error_with_nothing_left(
    manager: EnvironmentManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pclab.localcloud.invocation import LambdaServiceError

    def no_more_processes(*_: object) -> int:
        raise OSError(11, "Resource temporarily unavailable")  # what fork says at the limit

    open_before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(manager._ctx.launcher, "launch", no_more_processes)
    with pytest.raises(LambdaServiceError) as caught:
        invoke(manager, make_spec("nostart", init_delay=0, work=0))
    assert (caught.value.code, caught.value.status) == ("ServiceException", 500)
    assert "could not start an execution environment" in caught.value.message
    stats = manager.stats("nostart")
    assert (stats.environments, stats.inflight) == (0, 0)
    time.sleep(0.2)
    assert len(os.listdir("/proc/self/fd")) <= open_before, "no port or pipe left open"


def test_environments_die_with_a_killed_fork_server_and_a_new_one_takes_over(
    manager: EnvironmentManager,
) -> None:
    spec = make_spec("orphans", init_delay=0, work=0)
    invoke_many(manager, spec, [{"id": i, "sleep": 0.3} for i in range(3)])
    pids = manager.environment_pids("orphans")
    assert len(pids) == 3
    server = manager._ctx.launcher.server_pid  # type: ignore[attr-defined]
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(invoke, manager, spec, {"id": 4, "sleep": 5})
        time.sleep(0.3)
        os.kill(server, signal.SIGKILL)
        died = busy.result(timeout=5)
    assert json.loads(died.payload)["errorType"] == "Runtime.ExitError"
    assert_gone(pids, timeout=5)  # no orphans
    after = body(invoke(manager, spec, {"id": 9}))
    assert after["first"] is True
    assert manager._ctx.launcher.server_pid not in (None, server)  # type: ignore[attr-defined]


_HARD_KILL_CHILD = """
import json, sys, threading, time
from pclab.localcloud.environments import EnvironmentManager
from pclab.localcloud.invocation import FunctionSpec, InvokeRequest
code = bytes.fromhex(sys.argv[1])
spec = FunctionSpec("hk", "arn:aws:lambda:us-east-1:123456789012:function:hk", "$LATEST",
                    "app.handler", "python3.11", 128, 10, {}, "sha-hk", code)

class Sink:
    def put_trace_segments(self, documents): pass
    def put_log_events(self, group, stream, events): pass

m = EnvironmentManager(Sink())
busy = InvokeRequest(spec, b'{"sleep": 60}', None)
threading.Thread(target=m.invoke, args=(busy,), daemon=True).start()
while m.stats("hk").environments < 1:  # one environment busy in its handler...
    time.sleep(0.05)
m.invoke(InvokeRequest(spec, b"{}", None))  # ...and one idle
print(json.dumps({"envs": m.environment_pids(), "server": m._ctx.launcher.server_pid,
                  "dirs": [str(m._code_root), str(m._work_dir)]}), flush=True)
time.sleep(60)
"""


def test_a_killed_local_cloud_process_leaves_no_environment_behind() -> None:
    """SIGKILL of the process that holds the manager: no cleanup code runs, still no orphan."""
    import subprocess
    import sys

    from .conftest import make_zip

    sleeper = "import time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n"
    code = make_zip({"app.py": sleeper})
    child = subprocess.Popen(
        [sys.executable, "-c", _HARD_KILL_CHILD, code.hex()], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        started = json.loads(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
    assert len(started["envs"]) == 2 and started["server"]
    assert_gone([*started["envs"], started["server"]], timeout=5)
    from pathlib import Path

    assert not [d for d in started["dirs"] if Path(d).exists()], "unpacked code left behind"


def test_the_first_unpack_of_a_version_holds_up_no_other_function(
    manager: EnvironmentManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unpacking is slow on a slow disk (seconds for a sam-built zip); it must not block others."""
    from pclab.localcloud.environments.code import CodeCache

    warm = make_spec("other", init_delay=0, work=0)
    body(invoke(manager, warm))  # unpacked and warm before the slow one starts
    real_unpack = CodeCache._unpack

    def slow_unpack(spec: object, target: object) -> None:
        time.sleep(1.5)
        real_unpack(spec, target)  # type: ignore[arg-type]

    monkeypatch.setattr(CodeCache, "_unpack", staticmethod(slow_unpack))
    big = make_spec("big", init_delay=0, work=0, files={"app.py": TEST_HANDLER + "# other code"})
    with ThreadPoolExecutor(3) as pool:
        slow = [pool.submit(invoke, manager, big, {"id": i}, tail=True) for i in range(2)]
        time.sleep(0.2)
        t0 = time.monotonic()
        body(invoke(manager, warm))
        assert time.monotonic() - t0 < 0.5, "a warm call of another function waited for an unpack"
        done = [f.result() for f in slow]
    assert all(body(r)["first"] for r in done), "both callers of the new code got a cold start"
    for r in done:  # Lambda unpacks before the version is Active: not part of Init Duration
        log = base64.b64decode(r.log_result or "").decode()
        assert float(log.split("Init Duration: ")[1].split(" ms")[0]) < 1500
