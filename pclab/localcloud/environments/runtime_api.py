"""The Lambda Runtime API (2018-06-01) that awslambdaric talks to: one port per environment.

Why one port per environment: awslambdaric's compiled client reads ``AWS_LAMBDA_RUNTIME_API`` once
and sends nothing that tells environments apart, so the port *is* the environment's identity.

All ports are served by one asyncio loop (see :mod:`.loop`) with a small HTTP/1.1 parser: the
runtime client sends a handful of simple requests over one kept-alive connection (plus a separate
connection for the init error), so a full HTTP server would only add latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from typing import Protocol

from .loop import EventLoopThread

API_PREFIX = "/2018-06-01/runtime/"
_REASONS = {100: "Continue", 200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found"}
_ACCEPTED = (202, b'{"status":"OK"}')
_MAX_HEADER_BYTES = 64 * 1024


class RuntimeApiHandler(Protocol):
    """What an environment does with its runtime's requests (called on the loop thread)."""

    def on_next(self, conn: RuntimeConnection) -> None:
        """The runtime asks for the next event; answer later with ``conn.send_event``."""

    def on_response(self, request_id: str, body: bytes) -> bool:
        """The handler's result; return False when ``request_id`` is not the current one."""

    def on_invocation_error(self, request_id: str, body: bytes, error_type: str | None) -> bool:
        """The handler raised; same return convention as :meth:`on_response`."""

    def on_init_error(self, body: bytes, error_type: str | None) -> None:
        """Importing or finding the handler failed; the runtime exits after this."""


class RuntimeConnection(asyncio.Protocol):
    """One HTTP/1.1 connection from a runtime client to its environment's port."""

    def __init__(self, handler: RuntimeApiHandler) -> None:
        self._handler = handler
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._continue_sent = False
        self.closed = False

    # asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # small requests and replies: never wait for Nagle
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buf += data
        while self._buf and not self.closed:
            if not self._parse_one():
                return

    # parsing ----------------------------------------------------------------------------------
    def _parse_one(self) -> bool:
        """Handle one complete request from the buffer; False when more bytes are needed."""
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > _MAX_HEADER_BYTES:
                self._reply(400, b'{"errorType":"InvalidRequest","errorMessage":"header too big"}')
                self.close()
            return False
        head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, _version = head[0].split(" ", 2)
        except ValueError:
            self._reply(400, b'{"errorType":"InvalidRequest","errorMessage":"bad request line"}')
            self.close()
            return False
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body_start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parsed = _parse_chunked(self._buf, body_start)
            if parsed is None:
                self._maybe_continue(headers)
                return False
            body, consumed = parsed
        else:
            length = int(headers.get("content-length", "0") or 0)
            if len(self._buf) - body_start < length:
                self._maybe_continue(headers)
                return False
            body = bytes(self._buf[body_start : body_start + length])
            consumed = body_start + length
        del self._buf[:consumed]
        self._continue_sent = False
        self._dispatch(method, target, headers, body)
        return True

    def _maybe_continue(self, headers: dict[str, str]) -> None:
        # curl asks before sending big bodies; answer so it does not stall for a second.
        if headers.get("expect", "").lower() == "100-continue" and not self._continue_sent:
            self._continue_sent = True
            if self._transport is not None:
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        path = target.split("?", 1)[0]
        if not path.startswith(API_PREFIX):
            self._not_found(path)
            return
        rest = path[len(API_PREFIX) :]
        if method == "GET" and rest == "invocation/next":
            self._handler.on_next(self)
            return
        restore = getattr(self._handler, "on_restore_next", None)  # SnapStart (snapstart.py)
        if method == "GET" and rest == "restore/next" and restore is not None:
            restore(self)
            return
        restore_error = getattr(self._handler, "on_restore_error", None)
        if method == "POST" and rest == "restore/error" and restore_error is not None:
            restore_error(body, headers.get("lambda-runtime-function-error-type"))
            self._reply(*_ACCEPTED)
            return
        if method == "POST" and rest == "init/error":
            self._handler.on_init_error(body, headers.get("lambda-runtime-function-error-type"))
            self._reply(*_ACCEPTED)
            return
        parts = rest.split("/")
        if method == "POST" and len(parts) == 3 and parts[0] == "invocation":
            request_id, kind = parts[1], parts[2]
            if kind == "response":
                ok = self._handler.on_response(request_id, body)
            elif kind == "error":
                error_type = headers.get("lambda-runtime-function-error-type")
                ok = self._handler.on_invocation_error(request_id, body, error_type)
            else:
                self._not_found(path)
                return
            if ok:
                self._reply(*_ACCEPTED)
            else:
                self._reply(
                    400,
                    b'{"errorType":"InvalidRequestID","errorMessage":"Invalid request ID"}',
                )
            return
        self._not_found(path)

    def _not_found(self, path: str) -> None:
        msg = f'{{"errorType":"InvalidRequest","errorMessage":"no route for {path}"}}'
        self._reply(404, msg.encode())

    # replies ----------------------------------------------------------------------------------
    def _reply(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        if self._transport is None:
            return
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        if extra:
            lines.extend(f"{k}: {v}" for k, v in extra.items())
        self._transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def send_ok(self) -> None:
        """Answer ``GET /restore/next``: 200, empty body (the runtime reads nothing of it)."""
        self._reply(200, b"")

    def send_event(self, headers: dict[str, str], body: bytes) -> bool:
        """Answer the pending ``/next`` with an event; False when the connection is gone."""
        if self._transport is None or self.closed:
            return False
        self._reply(200, body, headers)
        return True

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.closed = True


def _parse_chunked(buf: bytearray, start: int) -> tuple[bytes, int] | None:
    body = bytearray()
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n", pos)
            if trailer_end < 0:
                return None
            return bytes(body), trailer_end + 2
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos : pos + size]
        pos += size + 2


def _same(protocol: RuntimeConnection) -> RuntimeConnection:
    return protocol


class RuntimeApiEndpoint:
    """A listening port on 127.0.0.1 for one environment's runtime client.

    Creating one never waits for the loop thread: the socket listens at once (connections queue
    in its backlog) and the loop starts accepting when it gets to it. With 150 environments
    starting together, a round trip through the loop per environment would serialise them.
    """

    def __init__(self, loop_thread: EventLoopThread, handler: RuntimeApiHandler) -> None:
        self._loop_thread = loop_thread
        self._handler = handler
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            sock.listen(16)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port: int = sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._connections: list[RuntimeConnection] = []
        self._closed = False
        loop_thread.call_soon(self._listen)

    def _listen(self) -> None:
        if not self._closed:
            self._loop_thread.loop.add_reader(self._sock.fileno(), self._accept)

    def _accept(self) -> None:
        loop = self._loop_thread.loop
        while True:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(False)
            protocol = RuntimeConnection(self._handler)
            self._connections = [c for c in self._connections if not c.closed]
            self._connections.append(protocol)
            loop.create_task(loop.connect_accepted_socket(functools.partial(_same, protocol), conn))

    def close(self) -> None:
        """Stop listening and drop the runtime's connections (call from any thread)."""

        def do_close() -> None:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(ValueError, OSError):
                self._loop_thread.loop.remove_reader(self._sock.fileno())
            self._sock.close()
            for conn in self._connections:
                conn.close()
            self._connections.clear()

        self._loop_thread.call_soon(do_close)
