"""Fork server for execution environments: a warm Python that forks one child per environment.

Run as a script (``python _forkserver.py FD``), never imported by pclab: it must stay a small,
single-threaded process, because forking is only safe without threads.

Why: starting 150 interpreters at once costs seconds of CPU on two cores, mostly interpreter start
and the runtime client's imports. This process pays that once and forks. It preloads ONLY what the
Lambda runtime (awslambdaric) itself imports, never the function's dependencies, whose import cost
is part of a real cold start. awslambdaric's compiled client (``runtime_client``) and its bootstrap
read ``AWS_LAMBDA_RUNTIME_API`` / log settings when they load, so each child imports them itself,
after its environment is in place: the child then runs exactly ``python -m awslambdaric HANDLER``.

Usage: ``_forkserver.py FD [DIR...]``; the DIRs are removed when the manager is gone.

Protocol on the SOCK_SEQPACKET socket FD (one JSON object per message):
  request  {"token", "argv", "env", "cwd", "path"} with the stdout/stderr pipe end as SCM_RIGHTS
  replies  {"token", "pid"} right after the fork, or {"token", "error"};
           {"exit": pid, "code": exit code, negative for a signal} when a child ends (reaped here).
When the socket closes (the manager is gone), every child's process group is killed.
"""

# What the runtime imports (stdlib and awslambdaric's pure-Python parts) plus this server's own
# needs; never a function's dependencies.
import contextlib
import ctypes  # our own machinery: PR_SET_PDEATHSIG in each child
import decimal  # noqa: F401
import enum  # noqa: F401
import http.client  # noqa: F401
import importlib  # noqa: F401
import json
import logging  # noqa: F401
import math  # noqa: F401
import os
import runpy
import selectors
import shutil
import signal
import socket
import sys
import time  # noqa: F401
import traceback
from typing import Any

import awslambdaric.lambda_config
import awslambdaric.lambda_context
import awslambdaric.lambda_literals
import awslambdaric.lambda_runtime_exception
import awslambdaric.lambda_runtime_log_utils
import awslambdaric.lambda_runtime_marshaller  # noqa: F401

_BASE_PATH = [p for p in sys.path[1:]]  # without this script's own directory
_SERVER_PID = os.getpid()
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """If this fork server is killed outright, its environments must not live on as orphans."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _child(
    ctl: socket.socket,
    sel: selectors.BaseSelector,
    wake_r: int,
    wake_w: int,
    req: dict[str, Any],
    out_fd: int,
) -> None:
    """In the forked child: become ``python -m awslambdaric HANDLER`` in its own session."""
    code = 1
    try:
        os.setsid()  # own session and process group: Ctrl-C on the cloud never reaches it
        _die_with_parent(_SERVER_PID)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sel.close()  # the server's descriptors are not the environment's business
        ctl.close()
        os.close(wake_r)
        os.close(wake_w)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.path[:] = list(req["path"]) + _BASE_PATH
        sys.argv[:] = ["-m", *req["argv"]]
        try:
            runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:  # what the interpreter would do with it
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main() -> None:
    ctl = socket.socket(fileno=int(sys.argv[1]))
    ctl.setblocking(True)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the manager decides when we stop
    children: set[int] = set()

    def send(obj: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            ctl.send(json.dumps(obj).encode())

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            send({"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    sel = selectors.DefaultSelector()
    sel.register(ctl, selectors.EVENT_READ, "ctl")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    running = True
    while running:
        for key, _ in sel.select():
            if key.data == "wake":
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                reap()
                continue
            try:
                msg, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 20, 4)
            except OSError:
                msg, fds = b"", []
            if not msg:
                running = False
                break
            req = json.loads(msg)
            if not fds:
                send({"token": req.get("token"), "error": "no stdout pipe passed"})
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                pid = os.fork()
            except OSError as exc:
                os.close(fds[0])
                send({"token": req["token"], "error": f"fork failed: {exc}"})
                continue
            if pid == 0:
                _child(ctl, sel, wake_r, wake_w, req, fds[0])
            os.close(fds[0])
            children.add(pid)
            send({"token": req["token"], "pid": pid})
        reap()
    # The manager is gone: leave nothing behind.
    for pid in list(children):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    for path in sys.argv[2:]:  # the manager's work and code directories (RAM, for the code)
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
