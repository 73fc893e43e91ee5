"""Starting and stopping environment processes, each in its own session / process group.

Two launchers with one interface:

- :class:`ForkServerLauncher` (default): children forked from a warm Python (``_forkserver.py``)
  that preloaded only the runtime client's own imports. Measured in ``bench/bench_environments.py``:
  it is what lets 150 environments start at once within the goal on two cores.
- :class:`SpawnLauncher`: a fresh ``python -m awslambdaric HANDLER`` per environment; simplest, and
  exactly what Lambda's image runs, but every start pays interpreter start-up.

Both report a child's end with its exit code (negative: killed by that signal) through a callback
on the event loop thread, and both leave no zombie: the fork server reaps its children, the spawn
launcher waits on a pidfd.
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
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .loop import EventLoopThread

ExitCallback = Callable[[int], None]
_FORKSERVER_SCRIPT = Path(__file__).with_name("_forkserver.py")


@dataclass
class LaunchSpec:
    """What to run: ``python -m awslambdaric <handler>`` in ``cwd`` with exactly ``env``."""

    handler: str
    cwd: str
    env: dict[str, str]
    python_path: list[str] = field(default_factory=list)


class Launcher(Protocol):
    def launch(self, spec: LaunchSpec, out_fd: int, on_exit: ExitCallback) -> int:
        """Start the process with stdout+stderr on ``out_fd``; return its pid (= its pgid)."""
        ...

    def close(self) -> None: ...


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the environment's whole process group (it may have started children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class SpawnLauncher:
    """A fresh interpreter per environment (subprocess, new session)."""

    def __init__(self, loop_thread: EventLoopThread, python: str = sys.executable) -> None:
        self._loop_thread = loop_thread
        self._python = python
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def launch(self, spec: LaunchSpec, out_fd: int, on_exit: ExitCallback) -> int:
        env = dict(spec.env)
        if spec.python_path:
            env["PYTHONPATH"] = os.pathsep.join(spec.python_path)
        proc = subprocess.Popen(
            [self._python, "-m", "awslambdaric", spec.handler],
            cwd=spec.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out_fd,
            stderr=out_fd,
            start_new_session=True,
            close_fds=True,
        )
        with self._lock:
            self._procs[proc.pid] = proc
        pidfd = os.pidfd_open(proc.pid)

        def exited() -> None:
            self._loop_thread.loop.remove_reader(pidfd)
            os.close(pidfd)
            code = proc.wait()
            with self._lock:
                self._procs.pop(proc.pid, None)
            on_exit(code)

        self._loop_thread.call_soon(self._loop_thread.loop.add_reader, pidfd, exited)
        return proc.pid

    def close(self) -> None:
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            kill_group(proc.pid)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


class ForkServerError(RuntimeError):
    pass


class ForkServerLauncher:
    """Talks to a ``_forkserver.py`` process over a SOCK_SEQPACKET socket pair.

    If the server dies (killed from outside), its children die with it (PR_SET_PDEATHSIG), their
    owners hear of it as a SIGKILL, and the next launch starts a new server.
    """

    def __init__(
        self,
        loop_thread: EventLoopThread,
        python: str = sys.executable,
        *,
        cleanup: list[Path] | None = None,
    ) -> None:
        self._loop_thread = loop_thread
        self._python = python
        self._cleanup = [str(p) for p in cleanup or []]
        self._send_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future[int]] = {}
        self._pending_exit: dict[int, ExitCallback] = {}
        self._on_exit: dict[int, ExitCallback] = {}
        self._children: set[int] = set()
        self._closed = False
        self._sock: socket.socket | None = None
        self._procs: list[subprocess.Popen[bytes]] = []
        self._ensure_server()

    def _ensure_server(self) -> socket.socket:
        with self._start_lock:
            if self._closed:
                raise ForkServerError("the fork server is closed")
            if self._sock is not None:
                return self._sock
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            proc = subprocess.Popen(
                [self._python, str(_FORKSERVER_SCRIPT), str(theirs.fileno()), *self._cleanup],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C on the terminal must not reach it either
            )
            theirs.close()
            ours.setblocking(False)
            self._procs = [p for p in self._procs if p.poll() is None] + [proc]
            self._sock = ours
            self._loop_thread.call(
                self._loop_thread.loop.add_reader, ours.fileno(), self._readable, ours
            )
            return ours

    @property
    def server_pid(self) -> int | None:
        alive = [p for p in self._procs if p.poll() is None]
        return alive[-1].pid if alive else None

    def launch(self, spec: LaunchSpec, out_fd: int, on_exit: ExitCallback) -> int:
        sock = self._ensure_server()
        token = next(self._tokens)
        fut: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._pending[token] = fut
        self._pending_exit[token] = on_exit
        env = dict(spec.env)
        if spec.python_path:
            env["PYTHONPATH"] = os.pathsep.join(spec.python_path)
        msg = json.dumps(
            {
                "token": token,
                "argv": [spec.handler],
                "env": env,
                "cwd": spec.cwd,
                # `python -m` puts the working directory first, then PYTHONPATH.
                "path": [spec.cwd, *spec.python_path],
            }
        ).encode()
        # The socket stays non-blocking: the loop thread reads it at the same time, and a blocking
        # mode set here would let its recv() hang the whole loop.
        try:
            with self._send_lock:
                while True:
                    try:
                        socket.send_fds(sock, [msg], [out_fd])
                        break
                    except BlockingIOError:
                        select.select([], [sock], [], 1.0)
        except OSError as exc:
            self._pending.pop(token, None)
            self._pending_exit.pop(token, None)
            raise ForkServerError(f"the fork server is gone: {exc}") from exc
        try:
            return fut.result(timeout=30)
        except concurrent.futures.TimeoutError as exc:
            raise ForkServerError("the fork server did not answer within 30 s") from exc

    def _readable(self, sock: socket.socket) -> None:
        """Loop thread: fork replies and child exits, in the order the server sent them."""
        while True:
            try:
                data = sock.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._server_gone(sock)
                return
            self._handle(json.loads(data))

    def _handle(self, msg: dict[str, Any]) -> None:
        if "exit" in msg:
            pid = int(msg["exit"])
            self._children.discard(pid)
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
            self._children.add(pid)
            if cb is not None:
                self._on_exit[pid] = cb
            fut.set_result(pid)
        else:
            fut.set_exception(ForkServerError(str(msg.get("error"))))

    def _server_gone(self, sock: socket.socket) -> None:
        with contextlib.suppress(ValueError, OSError):
            self._loop_thread.loop.remove_reader(sock.fileno())
        sock.close()
        if self._sock is sock:
            self._sock = None  # the next launch starts a new server
        for fut in self._pending.values():
            fut.set_exception(ForkServerError("the fork server exited"))
        self._pending.clear()
        self._pending_exit.clear()
        # Its children die with it (or were killed by it); tell their owners.
        for pid, cb in list(self._on_exit.items()):
            kill_group(pid)
            cb(-signal.SIGKILL)
        self._on_exit.clear()
        self._children.clear()

    def close(self) -> None:
        """Kill every child group, stop the server and reap it."""
        with self._start_lock:
            self._closed = True
            sock, self._sock = self._sock, None
        for pid in list(self._children):
            kill_group(pid)
        if sock is not None:

            def detach() -> None:
                with contextlib.suppress(ValueError, OSError):
                    self._loop_thread.loop.remove_reader(sock.fileno())

            with contextlib.suppress(Exception):  # the loop may already be stopped
                self._loop_thread.call(detach)
            sock.close()  # the server sees EOF, kills and reaps any child left, exits
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
