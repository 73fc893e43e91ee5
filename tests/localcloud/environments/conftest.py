"""Fixtures for the execution-environment tests: real processes, a small handler zip, a sink.

The sink here is a test double for the *telemetry sink* only (the control plane implements the real
one over moto); everything else is real: processes, the runtime client, HTTP, UDP.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from pclab.localcloud.environments import EnvironmentManager
from pclab.localcloud.invocation import FunctionSpec

REPO = Path(__file__).resolve().parents[3]
ACCOUNT = "123456789012"

# A small handler with the sample's shape: init sleeps COLD_START_DELAY, work sleeps
# FUNCTION_DURATION (or the event's "sleep"), "mode" in the event makes it fail in a chosen way.
TEST_HANDLER = """
import os, sys, time, uuid
INIT_STARTED = time.time()
if os.environ.get("FAIL_AT_IMPORT"):
    raise RuntimeError("init exploded: " + os.environ["FAIL_AT_IMPORT"])
if os.environ.get("EXIT_AT_IMPORT"):
    sys.exit(3)
time.sleep(float(os.environ.get("COLD_START_DELAY", "0")))
INIT_ENDED = time.time()
ENV_ID = uuid.uuid4().hex[:12]
COUNT = 0
print("init done", ENV_ID)

def handler(event, context):
    global COUNT
    COUNT += 1
    mode = event.get("mode")
    print("handling", event.get("id"), "in", ENV_ID)
    if mode == "raise":
        raise ValueError("bad item " + str(event.get("id")))
    if mode == "exit":
        sys.exit(7)
    if mode == "kill":
        os.kill(os.getpid(), 9)
    started = time.time()
    time.sleep(float(event.get("sleep", os.environ.get("FUNCTION_DURATION", "0"))))
    return {
        "env": ENV_ID, "first": COUNT == 1, "pid": os.getpid(),
        "initType": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "initStartedAt": INIT_STARTED, "initEndedAt": INIT_ENDED, "startedAt": started,
        "remainingMs": context.get_remaining_time_in_millis(),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"), "id": event.get("id"),
        "vars": {k: os.environ.get(k) for k in (
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME", "LAMBDA_TASK_ROOT", "AWS_REGION", "TZ", "TMPDIR",
            "AWS_XRAY_DAEMON_ADDRESS", "_HANDLER", "GREETING")},
        "cwd": os.getcwd(),
    }
"""


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def make_spec(
    name: str = "fn",
    *,
    version: str = "$LATEST",
    init_delay: float = 0.3,
    work: float = 0.2,
    timeout: int = 10,
    env: dict[str, str] | None = None,
    handler: str = "app.handler",
    files: dict[str, str] | None = None,
    tracing: bool = False,
) -> FunctionSpec:
    code = make_zip(files or {"app.py": TEST_HANDLER})
    variables = {"COLD_START_DELAY": str(init_delay), "FUNCTION_DURATION": str(work)}
    variables.update(env or {})
    import hashlib

    return FunctionSpec(
        function_name=name,
        function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}",
        version=version,
        handler=handler,
        runtime="python3.11",
        memory_mb=128,
        timeout_seconds=timeout,
        environment=variables,
        code_sha256=hashlib.sha256(code).hexdigest(),
        code_zip=code,
        tracing_active=tracing,
        account_id=ACCOUNT,
    )


def sample_spec(name: str, *, init_delay: float, work: float, version: str = "1") -> FunctionSpec:
    """The project's real handler (functions/concurrencytest.py), as sam build would zip it."""
    source = (REPO / "functions" / "concurrencytest.py").read_text()
    base = make_spec(name, version=version, init_delay=init_delay, work=work, tracing=True)
    code = make_zip({"concurrencytest.py": source})
    import hashlib

    return replace(
        base,
        handler="concurrencytest.lambda_handler",
        code_zip=code,
        code_sha256=hashlib.sha256(code).hexdigest(),
    )


@dataclass
class MemorySink:
    """Keeps what the environments deliver, like the control plane's sink over moto would."""

    segments: list[dict[str, Any]] = field(default_factory=list)
    logs: dict[tuple[str, str], list[tuple[int, str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put_trace_segments(self, documents: list[str]) -> None:
        import json

        with self.lock:
            self.segments.extend(json.loads(d) for d in documents)

    def put_log_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        with self.lock:
            self.logs.setdefault((group, stream), []).extend(events)

    def messages(self, group: str | None = None) -> list[str]:
        with self.lock:
            return [
                m for (g, _), evs in sorted(self.logs.items()) for _, m in evs if group in (None, g)
            ]


def process_state(pid: int) -> str | None:
    """'R', 'S', 'Z', ... or None when the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def assert_gone(pids: list[int], timeout: float = 10.0) -> None:
    """Every pid has exited and been reaped: no process and no zombie left behind."""
    deadline = time.monotonic() + timeout
    left = pids
    while time.monotonic() < deadline:
        left = [p for p in pids if process_state(p) is not None]
        if not left:
            return
        time.sleep(0.05)
    states = {p: process_state(p) for p in left}
    raise AssertionError(f"processes left behind (pid: state): {states}")


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry))
    return out


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@contextlib.contextmanager
def checked_manager(sink: MemorySink, platform_model: str = "aws") -> Iterator[EnvironmentManager]:
    """A manager whose shutdown is checked: every environment and the fork server are gone."""
    before = set(children_of(os.getpid()))
    mgr = EnvironmentManager(sink, idle_timeout_seconds=60, platform_model=platform_model)
    try:
        yield mgr
    finally:
        pids = mgr.environment_pids()
        helpers = [p for p in children_of(os.getpid()) if p not in before]
        mgr.shutdown()
        assert_gone(pids + helpers)


@pytest.fixture
def manager(sink: MemorySink) -> Iterator[EnvironmentManager]:
    """A manager whose shutdown is checked: every environment and the fork server are gone."""
    with checked_manager(sink) as mgr:
        yield mgr
