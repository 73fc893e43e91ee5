"""One fork server process (``_forkserver.py``) seen from the manager: start it, fork through it.

:class:`ForkServer` owns one server process and its SOCK_SEQPACKET socket: it waits for the
server's first message (what it preloaded and what that cost), sends fork requests, and hears of
forks and child exits on the event loop thread. :class:`~.process.ForkServerLauncher` keeps one
of these per interpreter and per template (a function's preloaded dependencies).

If the server dies (killed from outside), its children die with it (PR_SET_PDEATHSIG), their
owners hear of it as a SIGKILL, and the server is marked gone (the launcher starts a new one).
Imports nothing of pclab beyond this package's event loop.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import json
import os
import select
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .loop import EventLoopThread

ExitCallback = Callable[[int], None]
FORKSERVER_SCRIPT = Path(__file__).with_name("_forkserver.py")
READY_TIMEOUT_SECONDS = 120.0  # preloading a large package on a busy machine takes a while


class ForkServerError(RuntimeError):
    pass


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the environment's whole process group (it may have started children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@dataclass(frozen=True)
class Preloaded:
    """What a fork server preloaded: per top-level module, (wall, cpu, run_delay) in seconds."""

    costs: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    python_version: str = ""

    @property
    def forkable(self) -> bool:
        """Forking a process with threads is unsafe: a preload that started one is not used."""
        return self.threads <= 1


class ForkServer:
    """One ``_forkserver.py`` process (see module docstring)."""

    def __init__(
        self,
        loop_thread: EventLoopThread,
        python: str,
        *,
        template: dict[str, Any] | None = None,
        cleanup: list[str] | None = None,
    ) -> None:
        self._setup(loop_thread)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [python, str(FORKSERVER_SCRIPT), str(theirs.fileno())]
        if template is not None:
            argv.append("--template=" + json.dumps(template))
        argv.extend(cleanup or [])
        try:
            self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                argv,
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C on the terminal must not reach it either
            )
        except OSError as exc:
            ours.close()
            raise ForkServerError(f"could not start {python}: {exc}") from exc
        finally:
            theirs.close()
        self._attach(ours)

    def _setup(self, loop_thread: EventLoopThread) -> None:
        self._loop_thread = loop_thread
        self._send_lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future[int]] = {}
        self._pending_exit: dict[int, ExitCallback] = {}
        self._on_exit: dict[int, ExitCallback] = {}
        self.children: set[int] = set()
        self.gone = False
        self._ready: concurrent.futures.Future[Preloaded] = concurrent.futures.Future()

    def _attach(self, ours: socket.socket) -> None:
        ours.setblocking(False)
        self._sock = ours
        self._loop_thread.call(self._loop_thread.loop.add_reader, ours.fileno(), self._readable)

    @classmethod
    def over(cls, loop_thread: EventLoopThread, sock: socket.socket) -> ForkServer:
        """A process that already speaks this protocol on ``sock``: a SnapStart snapshot, which
        another fork server started (its owner ends it; ``close`` only drops the socket)."""
        server = cls.__new__(cls)
        server._setup(loop_thread)
        server.proc = None
        server._attach(sock)
        return server

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> Preloaded:
        try:
            return self._ready.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            raise ForkServerError(f"the fork server was not ready within {timeout:.0f} s") from exc

    def launch(
        self, request: dict[str, Any], fds: list[int], on_exit: ExitCallback, timeout: float = 30.0
    ) -> int:
        """Fork a child for ``request`` (argv, env, cwd, path, platform, park); return its pid.

        ``fds``: the output pipe's write end, and for a parked spare its go pipe's read end.
        """
        if self.gone:
            raise ForkServerError("the fork server exited")
        token = next(self._tokens)
        fut: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._pending[token] = fut
        self._pending_exit[token] = on_exit
        msg = json.dumps({"token": token, **request}).encode()
        # The socket stays non-blocking: the loop thread reads it at the same time, and a blocking
        # mode set here would let its recv() hang the whole loop.
        try:
            with self._send_lock:
                while True:
                    try:
                        socket.send_fds(self._sock, [msg], fds)
                        break
                    except BlockingIOError:
                        select.select([], [self._sock], [], 1.0)
        except OSError as exc:
            self._pending.pop(token, None)
            self._pending_exit.pop(token, None)
            raise ForkServerError(f"the fork server is gone: {exc}") from exc
        try:
            return fut.result(timeout=timeout)
        except concurrent.futures.TimeoutError as exc:
            raise ForkServerError(f"the fork server did not answer within {timeout:.0f} s") from exc

    def _readable(self) -> None:
        """Loop thread: the first message, fork replies and child exits, in order."""
        while True:
            try:
                data = self._sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._server_gone()
                return
            self._handle(json.loads(data))

    def _handle(self, msg: dict[str, Any]) -> None:
        if msg.get("ready"):
            costs = {k: (float(v[0]), float(v[1]), float(v[2])) for k, v in msg["costs"].items()}
            ready = Preloaded(costs, dict(msg["errors"]), int(msg["threads"]), str(msg["version"]))
            if not self._ready.done():
                self._ready.set_result(ready)
            return
        if "exit" in msg:
            pid = int(msg["exit"])
            self.children.discard(pid)
            cb = self._on_exit.pop(pid, None)
            if cb is not None:
                cb(int(msg["code"]))
            return
        token = int(msg["token"])
        fut = self._pending.pop(token, None)
        cb = self._pending_exit.pop(token, None)
        if fut is None:
            return
        if "pid" in msg:
            pid = int(msg["pid"])
            self.children.add(pid)
            if cb is not None:
                self._on_exit[pid] = cb
            fut.set_result(pid)
        else:
            fut.set_exception(ForkServerError(str(msg.get("error"))))

    def _server_gone(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop_thread.loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self.gone = True
        if not self._ready.done():
            self._ready.set_exception(ForkServerError("the fork server exited at start"))
        for fut in self._pending.values():
            fut.set_exception(ForkServerError("the fork server exited"))
        self._pending.clear()
        self._pending_exit.clear()
        # Its children die with it (or were killed by it); tell their owners.
        for pid, cb in list(self._on_exit.items()):
            kill_group(pid)
            cb(-signal.SIGKILL)
        self._on_exit.clear()
        self.children.clear()

    def close(self) -> None:
        """Kill every child group, stop the server (it sees EOF) and reap it."""
        for pid in list(self.children):
            kill_group(pid)
        if not self.gone:
            sock = self._sock

            def detach() -> None:
                with contextlib.suppress(ValueError, OSError):
                    self._loop_thread.loop.remove_reader(sock.fileno())

            with contextlib.suppress(Exception):  # the loop may already be stopped
                self._loop_thread.call(detach)
            sock.close()
            self.gone = True
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
