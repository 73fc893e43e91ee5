"""An environment's stdout/stderr pipe, read on the loop: its log lines, and when its handler
returned.

The runtime's output (the handler's prints, awslambdaric's own lines) becomes CloudWatch Logs
events, one per line (a record awslambdaric joins with ``\\r`` is one event). One kind of line is
not a log line: just before awslambdaric posts a response or an error, the environment's process
writes :data:`RETURNED_MARK`, the request id and the time (``_forkserver._mark_returns``). That
is when the call's work ended inside the environment. The POST that follows reaches the loop
later by however long this machine takes to schedule its processes and this loop: at a burst of
150 completions on 2 cores, 50-340 ms (issue 11, measured). On Lambda each environment has its
own CPU and that wait is not there, so with the platform model on the call ends at the mark
(:meth:`OutputPipe.returned_at`), and the REPORT line's Duration and X-Ray's segments with it.

Loop thread only, except :meth:`attach`, called before the loop watches the descriptor.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

from .loop import EventLoopThread

# The same bytes as _forkserver.RETURNED_MARK (that module runs on other interpreters and imports
# nothing of pclab; tests/localcloud/environments/test_output.py checks they are equal).
RETURNED_MARK = b"\x1epclab:returned "
CHUNK = 65536


class OutputPipe:
    """The read end of one environment's output pipe."""

    def __init__(self, loop: EventLoopThread, on_line: Callable[[str], None]) -> None:
        self._loop = loop
        self._on_line = on_line
        self.fd: int | None = None
        self._buf = b""
        self._returned: dict[str, float] = {}

    def attach(self, fd: int) -> None:
        """Read ``fd`` (non-blocking) from now on; registered when the loop gets to it."""
        os.set_blocking(fd, False)
        self.fd = fd
        self._loop.call_soon(self._watch, fd)

    def returned_at(self, request_id: str) -> float | None:
        """When the environment's runtime was about to post this call's answer (once)."""
        return self._returned.pop(request_id, None)

    def drain(self) -> None:
        """Read everything written so far (the handler's prints were written before its POST)."""
        self._read(until_eagain=True)

    def close(self) -> None:
        fd = self.fd
        if fd is None:
            return
        self.fd = None
        try:
            self._loop.loop.remove_reader(fd)
        finally:
            os.close(fd)
        if self._buf:
            self._line(self._buf)
            self._buf = b""

    def _watch(self, fd: int) -> None:
        if self.fd == fd:  # not already closed by a death
            self._loop.loop.add_reader(fd, self._read, False)

    def _read(self, until_eagain: bool) -> None:
        fd = self.fd
        if fd is None:
            return
        while True:
            try:
                chunk = os.read(fd, CHUNK)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                break
            self._buf += chunk
            if not until_eagain and len(chunk) < CHUNK:
                break
        if b"\n" in self._buf:
            *lines, self._buf = self._buf.split(b"\n")
            for raw in lines:
                self._line(raw)

    def _line(self, raw: bytes) -> None:
        mark = raw.find(RETURNED_MARK)
        if mark >= 0:  # after output the handler left without a newline, if any
            request_id, _, at = (
                raw[mark + len(RETURNED_MARK) :].decode("ascii", "replace").partition(" ")
            )
            with contextlib.suppress(ValueError):  # a mark cut short: the POST's time stands
                self._returned[request_id] = float(at)
            raw = raw[:mark]
            if not raw:
                return
        # The runtime joins a multi-line record with \r (one CloudWatch event).
        self._on_line(raw.decode("utf-8", "replace").replace("\r", "\n"))
