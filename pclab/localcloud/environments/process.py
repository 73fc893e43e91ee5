"""Starting and stopping environment processes, each in its own session / process group.

Two launchers with one interface:

- :class:`ForkServerLauncher` (default): children forked from warm Pythons (``_forkserver.py``,
  one process per interpreter, see :mod:`.forkserver_client`) that preloaded the runtime client,
  and, for a function whose launch names a *template*, also the function's dependencies (one
  server per template). Measured in ``bench/bench_environments.py`` and
  ``bench/bench_cold_burst.py``: it is what lets 150 environments start at once on two cores.
- :class:`SpawnLauncher`: a fresh ``python -m awslambdaric HANDLER`` per environment; simplest, and
  exactly what Lambda's image runs, but every start pays interpreter start-up. It ignores
  templates and the platform model's waits (raw timings only).

Both report a child's end with its exit code (negative: killed by that signal) through a callback
on the event loop thread, and both leave no zombie: the fork servers reap their children, the spawn
launcher waits on a pidfd.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .forkserver_client import (
    ExitCallback,
    ForkServer,
    ForkServerError,
    Preloaded,
    kill_group,
)
from .loop import EventLoopThread

__all__ = [
    "ExitCallback",
    "ForkServerError",
    "ForkServerLauncher",
    "LaunchSpec",
    "Launcher",
    "Preloaded",
    "SpawnLauncher",
    "child_env",
    "kill_group",
]

MAX_TEMPLATES = 32  # idle templates beyond this are stopped, least recently used first


@dataclass
class LaunchSpec:
    """What to run: ``python -m awslambdaric <handler>`` in ``cwd`` with exactly ``env``.

    ``python`` is the interpreter (None: the launcher's own). ``template`` names the dependencies
    to preload (``{"key", "env", "path", "cwd", "imports"}``, see ``templates.py``), and
    ``platform`` the child's waits (``_forkserver.py``); both None for a plain launch. With
    ``park_fd`` the process stops before the handler import until it is handed an environment.
    """

    handler: str
    cwd: str
    env: dict[str, str]
    python_path: list[str] = field(default_factory=list)
    python: str | None = None
    template: dict[str, Any] | None = None
    platform: dict[str, Any] | None = None
    park_fd: int | None = None  # the child's end of a spare's socket: park (fork server only)
    snapshot_fd: int | None = None  # SnapStart: the child's end of its fork socket (snapstart.py)


def child_env(spec: LaunchSpec) -> dict[str, str]:
    """The process's variables: the environment's, plus PYTHONPATH for the code."""
    env = dict(spec.env)
    if spec.python_path:
        env["PYTHONPATH"] = os.pathsep.join(spec.python_path)
    return env


class Launcher(Protocol):
    def prepare(self, spec: LaunchSpec) -> Preloaded:
        """Get ready to launch ``spec`` quickly (start its fork server); what was preloaded."""
        ...

    def launch(self, spec: LaunchSpec, out_fd: int, on_exit: ExitCallback) -> int:
        """Start the process with stdout+stderr on ``out_fd``; return its pid (= its pgid)."""
        ...

    def close(self) -> None: ...


class SpawnLauncher:
    """A fresh interpreter per environment (subprocess, new session)."""

    def __init__(self, loop_thread: EventLoopThread, python: str = sys.executable) -> None:
        self._loop_thread = loop_thread
        self._python = python
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def prepare(self, spec: LaunchSpec) -> Preloaded:
        return Preloaded()

    def launch(self, spec: LaunchSpec, out_fd: int, on_exit: ExitCallback) -> int:
        if spec.park_fd is not None or spec.snapshot_fd is not None:
            raise ForkServerError("only the fork server launcher parks or snapshots processes")
        env = child_env(spec)
        proc = subprocess.Popen(
            [spec.python or self._python, "-m", "awslambdaric", spec.handler],
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


ServerKey = tuple[str, str | None]  # (interpreter, template key or None)


class ForkServerLauncher:
    """Fork servers per interpreter and per template, started on first use and reused.

    The host interpreter's plain server starts at once and is the one told which directories to
    remove if this process dies without shutting down (``cleanup``). A template whose preloading
    left a thread running is not forked from (unsafe): its launches use the plain server of its
    interpreter, and its dependencies are then imported by each environment for real.
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
        self._lock = threading.Lock()
        self._key_locks: dict[ServerKey, threading.Lock] = {}
        self._servers: OrderedDict[ServerKey, tuple[ForkServer, Preloaded]] = OrderedDict()
        self._unforkable: set[ServerKey] = set()
        self._closed = False
        self._server((python, None), None)

    @property
    def server_pid(self) -> int | None:
        """The host interpreter's plain fork server (tests kill it to check recovery)."""
        with self._lock:
            found = self._servers.get((self._python, None))
        proc = found[0].proc if found and not found[0].gone else None
        return proc.pid if proc is not None else None

    def template_count(self) -> int:
        with self._lock:
            return sum(1 for key in self._servers if key[1] is not None)

    def _server(
        self, key: ServerKey, template: dict[str, Any] | None
    ) -> tuple[ForkServer, Preloaded]:
        with self._lock:
            if self._closed:
                raise ForkServerError("the fork server is closed")
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:  # concurrent first launches of one template wait for one server
            with self._lock:
                found = self._servers.get(key)
                if found is not None and not found[0].gone:
                    self._servers.move_to_end(key)
                    return found
            python, _ = key
            cleanup = self._cleanup if key == (self._python, None) else None
            server = ForkServer(self._loop_thread, python, template=template, cleanup=cleanup)
            try:
                preloaded = server.wait_ready()
            except ForkServerError:
                server.close()
                raise
            with self._lock:
                self._servers[key] = (server, preloaded)
                closed = self._closed
                old = self._evict()
            for victim in old:
                victim.close()
            if closed:
                server.close()
                raise ForkServerError("the fork server is closed")
            return server, preloaded

    def _evict(self) -> list[ForkServer]:
        """Under the lock: idle templates beyond MAX_TEMPLATES, least recently used first."""
        victims: list[ForkServer] = []
        templates = [k for k in self._servers if k[1] is not None]
        for key in templates[: max(0, len(templates) - MAX_TEMPLATES)]:
            server, _ = self._servers[key]
            if not server.children:  # its environments would die with it
                del self._servers[key]
                victims.append(server)
        return victims

    def _resolve(self, spec: LaunchSpec) -> tuple[ForkServer, Preloaded]:
        python = spec.python or self._python
        if spec.template is None:
            return self._server((python, None), None)
        key: ServerKey = (python, str(spec.template["key"]))
        if key not in self._unforkable:
            server, preloaded = self._server(key, spec.template)
            if preloaded.forkable:
                return server, preloaded
            with self._lock:
                self._unforkable.add(key)
                self._servers.pop(key, None)
            server.close()
        return self._server((python, None), None)

    def prepare(self, spec: LaunchSpec) -> Preloaded:
        return self._resolve(spec)[1]

    def launch(self, spec: LaunchSpec, out_fd: int, on_exit: ExitCallback) -> int:
        server, _ = self._resolve(spec)
        if spec.park_fd is not None:  # parks before the handler import (spares.py)
            request = {**self._request(spec), "park": True}
            return server.launch(request, [out_fd, spec.park_fd], on_exit)
        if spec.snapshot_fd is not None:  # a SnapStart snapshot (snapstart.py)
            request = {**self._request(spec), "snapshot": True}
            return server.launch(request, [out_fd, spec.snapshot_fd], on_exit)
        return server.launch(self._request(spec), [out_fd], on_exit)

    @staticmethod
    def _request(spec: LaunchSpec) -> dict[str, Any]:
        return {
            "argv": [spec.handler],
            "env": child_env(spec),
            "cwd": spec.cwd,
            # `python -m` puts the working directory first, then PYTHONPATH.
            "path": [spec.cwd, *spec.python_path],
            "platform": spec.platform,
        }

    def close(self) -> None:
        """Kill every child group, stop every server and reap it."""
        with self._lock:
            self._closed = True
            base = self._servers.pop((self._python, None), None)
            servers = [s for s, _ in self._servers.values()]
            self._servers.clear()
        # The plain host server last: it removes the cleanup directories when it ends.
        for server in servers + ([base[0]] if base else []):
            server.close()
