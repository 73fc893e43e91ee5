"""The Runtime API server and the X-Ray daemon on the wire (raw sockets, no runtime client)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from pclab.localcloud.environments.concurrency import FunctionState, Limits
from pclab.localcloud.environments.loop import EventLoopThread
from pclab.localcloud.environments.runtime_api import RuntimeApiEndpoint, RuntimeConnection
from pclab.localcloud.environments.telemetry import XRayDaemon
from pclab.localcloud.invocation import LambdaServiceError


class Recorder:
    """A handler that records the runtime's requests and answers /next at once."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def on_next(self, conn: RuntimeConnection) -> None:
        self.calls.append(("next", None))
        conn.send_event({"Lambda-Runtime-Aws-Request-Id": "req-1"}, b'{"k": 1}')

    def on_response(self, request_id: str, body: bytes) -> bool:
        self.calls.append(("response", (request_id, body)))
        return request_id == "req-1"

    def on_invocation_error(self, request_id: str, body: bytes, error_type: str | None) -> bool:
        self.calls.append(("error", (request_id, error_type)))
        return True

    def on_init_error(self, body: bytes, error_type: str | None) -> None:
        self.calls.append(("init_error", (error_type, body)))


@pytest.fixture
def loop() -> Iterator[EventLoopThread]:
    thread = EventLoopThread()
    yield thread
    thread.stop()


def _exchange(port: int, raw: bytes, expect: int = 1) -> list[bytes]:
    """Send raw bytes on one connection; read `expect` HTTP responses."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        responses: list[bytes] = []
        while len(responses) < expect:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            while b"\r\n\r\n" in data:
                head, _, rest = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if len(rest) < length:
                    break
                responses.append(head + b"\r\n\r\n" + rest[:length])
                data = rest[length:]
        return responses


def test_next_response_and_errors_over_one_kept_alive_connection(loop: EventLoopThread) -> None:
    rec = Recorder()
    endpoint = RuntimeApiEndpoint(loop, rec)
    try:
        body = b'{"ok": true}'
        raw = (
            b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\n"
            b"Content-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
            + b"POST /2018-06-01/runtime/invocation/other/response HTTP/1.1\r\n"
            b"Content-Length: 0\r\n\r\n"
            b"GET /2018-06-01/nowhere HTTP/1.1\r\n\r\n"
        )
        responses = _exchange(endpoint.port, raw, expect=4)
        assert responses[0].startswith(b"HTTP/1.1 200 OK")
        assert b"Lambda-Runtime-Aws-Request-Id: req-1" in responses[0]
        assert b"Content-Type: application/json" in responses[0]  # the client crashes without it
        assert responses[0].endswith(b'{"k": 1}')
        assert responses[1].startswith(b"HTTP/1.1 202 Accepted")
        assert responses[2].startswith(b"HTTP/1.1 400") and b"InvalidRequestID" in responses[2]
        assert responses[3].startswith(b"HTTP/1.1 404")
        assert rec.calls[1] == ("response", ("req-1", body))
    finally:
        endpoint.close()


def test_chunked_bodies_expect_continue_and_init_error_header(loop: EventLoopThread) -> None:
    rec = Recorder()
    endpoint = RuntimeApiEndpoint(loop, rec)
    try:
        with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as sock:
            sock.sendall(
                b"POST /2018-06-01/runtime/invocation/req-1/error HTTP/1.1\r\n"
                b"Transfer-Encoding: chunked\r\nLambda-Runtime-Function-Error-Type: Boom\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(b"5\r\nhello\r\n0\r\n\r\n")
            assert sock.recv(1000).startswith(b"HTTP/1.1 202")
        payload = b'{"errorType":"Runtime.ImportModuleError"}'
        raw = (
            b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"
            b"Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError\r\n"
            b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
        )
        assert _exchange(endpoint.port, raw)[0].startswith(b"HTTP/1.1 202")
        assert ("error", ("req-1", "Boom")) in rec.calls
        assert ("init_error", ("Runtime.ImportModuleError", payload)) in rec.calls
    finally:
        endpoint.close()


def test_xray_daemon_loses_nothing_in_a_burst_and_drops_foreign_datagrams(
    loop: EventLoopThread,
) -> None:
    got: list[str] = []
    daemon = XRayDaemon(loop, got.extend)
    try:
        assert daemon.rcvbuf >= 4 * 1024 * 1024, "a small buffer drops datagrams under load"
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        doc = json.dumps({"type": "subsegment", "name": "work", "pad": "x" * 600})
        for i in range(3000):
            sender.sendto(
                b'{"format":"json","version":1}\n' + doc.replace("work", f"w{i}").encode(),
                ("127.0.0.1", daemon.port),
            )
        sender.sendto(b"not the daemon format", ("127.0.0.1", daemon.port))
        deadline = time.monotonic() + 5
        while len(got) < 3000 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert len(got) == 3000 and daemon.received == 3000
    finally:
        daemon.close()


def test_limits_reserved_account_and_scaling_rate() -> None:
    limits = Limits(account_limit=20, scale_per_window=3, window=10.0)
    a, b = FunctionState("a", reserved=2), FunctionState("b")
    fns = {"a": a, "b": b}
    limits.admit(a, fns)
    limits.admit(a, fns)
    with pytest.raises(LambdaServiceError) as caught:
        limits.admit(a, fns)
    assert caught.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    for _ in range(18):  # 20 - 2 reserved are left for b
        limits.admit(b, fns)
    with pytest.raises(LambdaServiceError) as caught:
        limits.admit(b, fns)
    assert (caught.value.status, caught.value.reason) == (429, "ConcurrentInvocationLimitExceeded")
    zero = FunctionState("z", reserved=0)  # reserved 0 = the function is switched off
    with pytest.raises(LambdaServiceError):
        limits.admit(zero, {"z": zero})
    # Scaling rate: 3 new environments per 10 s window, then throttled until the window moves.
    for t in (0.0, 1.0, 2.0):
        limits.allow_new_environment(b, now=t)
    with pytest.raises(LambdaServiceError):
        limits.allow_new_environment(b, now=5.0)
    limits.allow_new_environment(b, now=10.5)
