"""The handler under the real runtime interface client (awslambdaric), as in Lambda's Python image.

A minimal Runtime API (the HTTP interface Lambda offers the runtime client) hands out events and
records what comes back, so these tests see what Lambda would see: responses, handler errors,
and init errors with their error type.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .handler_harness import FUNCTIONS_DIR

pytestmark = pytest.mark.slow
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:live"


class RuntimeApi:
    """Serves queued events on /next and records every POST (path, headers, JSON body)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = list(events)
        self.posts: list[tuple[str, dict[str, str], Any]] = []
        self.finished = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if not api.events:
                    api.finished.set()
                    time.sleep(10)  # hold /next open, as Lambda does between events
                    return
                body = json.dumps(api.events.pop(0)).encode()
                self.send_response(200)
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": f"request-{len(api.posts) + 1}",
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                    "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    "Lambda-Runtime-Trace-Id": "Root=1-6740a000-0123456789abcdef01234567;"
                    "Parent=53995c3f42cd8ad8;Sampled=0",
                    "Content-Length": str(len(body)),
                }
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                api.posts.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if self.path.endswith("/init/error"):
                    api.finished.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def run_runtime(tmp_path: Any) -> Iterator[Any]:
    started: list[tuple[RuntimeApi, subprocess.Popen[bytes]]] = []

    def run(env: dict[str, str], events: list[dict[str, Any]]) -> RuntimeApi:
        api = RuntimeApi(events)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "_X_AMZN"))}
        process = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", "concurrencytest.lambda_handler"],
            cwd=FUNCTIONS_DIR,
            env={
                **base,
                "AWS_LAMBDA_RUNTIME_API": api.address,
                "LAMBDA_TASK_ROOT": str(FUNCTIONS_DIR),
                "PYTHONPATH": str(FUNCTIONS_DIR),
                "AWS_LAMBDA_FUNCTION_NAME": "f",
                "AWS_LAMBDA_FUNCTION_VERSION": "3",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_REGION": "us-east-1",
                **env,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the client ignores SIGINT while waiting: end it with SIGTERM
        )
        started.append((api, process))
        assert api.finished.wait(30), "the runtime client did not get through the events"
        return api

    yield run
    for api, process in started:
        process.terminate()
        process.wait(timeout=10)
        api.server.shutdown()
        api.server.server_close()


def test_the_runtime_client_runs_the_handler_cold_then_warm(run_runtime: Any) -> None:
    api = run_runtime(
        {"COLD_START_DELAY": "0.3", "FUNCTION_DURATION": "0.1"},
        [{"item": {"id": 1}}, {"item": {"id": 2}}, {"item": {"id": 3, "durationSeconds": "x"}}],
    )
    (path1, _, first), (path2, _, second), (path3, _, failed) = api.posts
    assert path1 == "/2018-06-01/runtime/invocation/request-1/response"
    assert path2 == "/2018-06-01/runtime/invocation/request-2/response"
    assert (first["firstInvocation"], second["firstInvocation"]) == (True, False)
    assert first["environmentId"] == second["environmentId"]
    assert first["requestId"] == "request-1" and first["functionVersion"] == "3"
    assert first["initializationType"] == "on-demand" and first["initDurationMs"] >= 300
    assert path3 == "/2018-06-01/runtime/invocation/request-3/error"
    assert failed["errorType"] == "InvalidItemError"
    assert "durationSeconds='x' is not a number" in failed["errorMessage"]


def test_a_bad_environment_value_is_reported_as_the_init_error(run_runtime: Any) -> None:
    api = run_runtime({"COLD_START_DELAY": "abc", "FUNCTION_DURATION": "1"}, [{"item": {"id": 1}}])
    ((path, headers, body),) = api.posts
    assert path == "/2018-06-01/runtime/init/error"
    assert headers["Lambda-Runtime-Function-Error-Type"] == "ConfigurationError"
    assert body["errorType"] == "ConfigurationError"
    assert body["errorMessage"].startswith("environment variable COLD_START_DELAY='abc' is not")
