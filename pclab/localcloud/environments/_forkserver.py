"""Fork server for execution environments: a warm Python that forks one child per environment.

Run as a script (``python _forkserver.py FD [--template=JSON] [DIR...]``), never imported by
pclab: it must stay a small, single-threaded process, because forking is only safe without
threads. It runs on the interpreter of the function's runtime (python3.12 for a python3.12
function when the machine has one), so it only uses what every Python 3.10+ has.

Why: starting 150 interpreters at once costs seconds of CPU on two cores, mostly interpreter start
and the runtime client's imports. This process pays that once and forks.

What it preloads:
- always, the runtime client (awslambdaric) itself, including its bootstrap and Runtime API client
  modules. Their compiled part (``runtime_client``) reads ``AWS_LAMBDA_RUNTIME_API`` when its
  shared library loads (FACTS.md), so it is NOT loaded here: the client module is imported with
  that library hidden (so its ``runtime_client`` is None, the module's own fallback), and each
  child loads the library after its environment is in place and does what the module does at
  import (``initialize_client``). The bootstrap's two settings read from the environment at import
  (log format and level) are read again in the child.
- with ``--template``, also the function's dependencies: the modules its handler module imports at
  its top level that are not the function's own code (the manager lists them, ``templates.py``),
  imported with the function's environment variables, code directory and path. Each import's cost
  is measured (wall, CPU, and the time spent waiting for a CPU) and reported, so the manager can
  charge it to every environment's init as Lambda would spend it, while this machine spends it
  once. The handler module itself is never preloaded: its init runs in every environment.

In the child, with a ``platform`` entry in the request (the platform model, ``--platform-model
aws``), the child waits as Lambda would before its handler module runs (the runtime's own start),
at the first import of each preloaded dependency (its charge), and after the handler module
(CPU-bound init scaled to the init's CPU share). Each wait first absorbs the time this machine
already lost (a late start, time waiting for a CPU): the waits are floors, not additions.

Protocol on the SOCK_SEQPACKET socket FD (one JSON object per message):
  first    {"ready": true, "costs": {top: [wall, cpu, run_delay]}, "errors": {top: text},
            "threads": n, "version": "3.12.1"}  once preloading is done
  request  {"token", "argv", "env", "cwd", "path", "platform"?, "park"?} with the output pipe
           (SCM_RIGHTS), and for "park" a second descriptor: the child's end of a socket pair.
           A parked process runs the runtime client up to the handler import, writes one byte
           ("P": parked) on that socket and waits there for one JSON document, {"env",
           "platform"}, followed by EOF, sent when an environment claims it (``spares.py``);
           EOF without one ends it.
           With "snapshot" (SnapStart, ``snapstart.py``) the second descriptor is the child's end
           of a SOCK_SEQPACKET socket: the child runs its init as a ``snap-start`` environment and
           then serves that socket as the version's own fork server (``_serve_restores``),
           whose children may park too ("park": before they resume, ``spares.py``).
  replies  {"token", "pid"} right after the fork, or {"token", "error"};
           {"exit": pid, "code": exit code, negative for a signal} when a child ends (reaped here).
When the socket closes (the manager is gone), every child's process group is killed.
"""

import contextlib
import ctypes  # our own machinery: PR_SET_PDEATHSIG in each child
import decimal  # noqa: F401
import enum  # noqa: F401
import gc
import http.client  # noqa: F401
import json
import logging  # noqa: F401
import math  # noqa: F401
import os
import platform
import runpy
import selectors
import shutil
import signal
import socket
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

import awslambdaric.lambda_config
import awslambdaric.lambda_context
import awslambdaric.lambda_literals
import awslambdaric.lambda_runtime_exception
import awslambdaric.lambda_runtime_log_utils
import awslambdaric.lambda_runtime_marshaller

# The Runtime API client and the bootstrap, with the compiled client hidden (see docstring).
sys.modules["runtime_client"] = None  # type: ignore[assignment]  # makes its import fail
try:
    import awslambdaric.bootstrap
    import awslambdaric.lambda_runtime_client
finally:
    del sys.modules["runtime_client"]

if TYPE_CHECKING:
    from pclab.localcloud.environments._platform_clock import PlatformClock, schedstat
else:  # run as a script, on the function's Python: this folder is first on sys.path
    from _platform_clock import PlatformClock, schedstat

_BASE_PATH = [p for p in sys.path[1:]]  # without this script's own directory
# Written on the environment's stdout just before the runtime posts an answer: when the call's
# work ended inside the environment (pclab/localcloud/environments/output.py reads it; the same
# bytes as its RETURNED_MARK).
RETURNED_MARK = b"\x1epclab:returned "
RESTORED_MARK_ID = "snapstart-restored"  # ... and with this id, when a restore ended (snapstart.py)
INIT_MARK_ID = "init-ended"  # ... and when an init ended, as Lambda would time it (environment.py)


def _mark_returns() -> None:
    """Wrap the runtime client's two ways of answering a call so that each first writes
    RETURNED_MARK, the request id and the time. Done once here; every child inherits it."""
    base = awslambdaric.lambda_runtime_client.BaseLambdaRuntimeClient
    for name in ("post_invocation_result", "post_invocation_error"):
        original = getattr(base, name)

        def marked(
            self: Any, invoke_id: str, *args: Any, _original: Any = original, **kw: Any
        ) -> Any:
            with contextlib.suppress(OSError):
                os.write(1, RETURNED_MARK + f"{invoke_id} {time.time():.6f}\n".encode())
            return _original(self, invoke_id, *args, **kw)

        setattr(base, name, marked)


_mark_returns()
_SERVER_PID = os.getpid()
_PR_SET_PDEATHSIG = 1


def _preload(template: dict[str, Any]) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Import the function's dependencies as its environment would; measure each top-level name."""
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    os.environ.clear()
    os.environ.update(template["env"])
    sys.path[:] = list(template["path"]) + _BASE_PATH
    os.chdir(template["cwd"])
    costs: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    try:
        for top, module, fromlist in template["imports"]:
            if top in errors:
                continue
            wall0, (cpu0, delay0) = time.perf_counter(), schedstat()
            try:
                __import__(module, globals(), None, tuple(fromlist), 0)
            except BaseException as exc:  # the environment will meet (and report) it itself
                errors[top] = f"{type(exc).__name__}: {exc}"
                continue
            cpu1, delay1 = schedstat()
            cost = costs.setdefault(top, [0.0, 0.0, 0.0])
            cost[0] += time.perf_counter() - wall0
            cost[1] += cpu1 - cpu0
            cost[2] += delay1 - delay0
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return costs, errors


def _mark_init_end(clock: PlatformClock) -> None:
    """At the runtime's first ``/next``, mark when the init ended as Lambda would time it: now,
    less what this machine lost (``PlatformClock.lost``).

    On Lambda each environment inits on a CPU of its own; here 150 share two, and the handler
    module's own code (after its modelled waits) queues for them, then its ``/next`` queues for the
    manager's loop: the slowest of 150 inits took 1.1-1.27 times one. Like a call's end
    (``_mark_returns``) and a restore's (``_restore_floor``), the mark goes on stdout before the
    request; what this machine took beyond it is in the caller's latency, not in Init Duration.
    """
    cls = awslambdaric.lambda_runtime_client.LambdaRuntimeClient
    original = cls.wait_next_invocation

    def first_next(self: Any) -> Any:
        cls.wait_next_invocation = original  # once: later calls are the runtime's own
        end = time.time() - clock.lost()
        with contextlib.suppress(OSError):
            os.write(1, RETURNED_MARK + f"{INIT_MARK_ID} {end:.6f}\n".encode())
        return original(self)

    cls.wait_next_invocation = first_next


def _runtime_client_loaded() -> None:
    """In the child, with its environment set: what the preloaded client modules did at import."""
    import runtime_client  # type: ignore[import-not-found]  # awslambdaric's compiled part

    lrc = awslambdaric.lambda_runtime_client
    runtime_client.initialize_client(lrc._user_agent())
    lrc.runtime_client = runtime_client
    _log_settings_read()


def _log_settings_read() -> None:
    """The bootstrap's two settings it reads from the environment at import."""
    boot = awslambdaric.bootstrap
    boot._AWS_LAMBDA_LOG_FORMAT = awslambdaric.lambda_runtime_log_utils.LogFormat.from_str(
        os.environ.get("AWS_LAMBDA_LOG_FORMAT")
    )
    boot._AWS_LAMBDA_LOG_LEVEL = awslambdaric.lambda_runtime_log_utils._get_log_level_from_env_var(
        os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    )


def _wait_for_go(go_fd: int) -> dict[str, Any]:
    """Parked: say so (one byte), then block until an environment claims this process."""
    try:
        os.write(go_fd, b"P")
    except OSError:  # nobody is listening any more
        os._exit(0)
    data = b""
    while True:
        chunk = os.read(go_fd, 1 << 16)
        if not chunk:
            break
        data += chunk
    os.close(go_fd)
    if not data:  # retired before any environment claimed it
        os._exit(0)
    go: dict[str, Any] = json.loads(data)
    return go


def _before_handler(go_fd: int | None, plat: dict[str, Any] | None) -> None:
    """Wrap what run() calls to import the handler module: park there, then the model's waits."""
    boot = awslambdaric.bootstrap
    get_handler = boot._get_handler

    def timed_get_handler(handler: str) -> Any:
        platform_waits = plat
        if go_fd is not None:
            go = _wait_for_go(go_fd)
            os.environ.clear()
            os.environ.update(go["env"])
            platform_waits = go.get("platform")
        if not platform_waits:
            return get_handler(handler)
        clock = PlatformClock(platform_waits)
        clock.before_handler()
        ok = False
        try:
            found = get_handler(handler)
            ok = True
            return found
        finally:
            clock.after_handler(ok)
            if ok and os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
                _mark_init_end(clock)  # a snapshot's restores mark their own end

    boot._get_handler = timed_get_handler


def _snapshot(snap_fd: int) -> None:
    """SnapStart: after its init this process is the snapshot, and forks restored environments.

    awslambdaric (``snap-start``) runs the before-snapshot hooks, then ``restore_next``: Lambda
    snapshots the microVM while that call waits and resumes each new environment from it. Here the
    call on the snapshot's own port tells the manager the init is done; then this process serves
    fork requests ({"token", "env", "platform"} with the new environment's output pipe) and each
    child returns from ``restore_next`` as a new environment: its own session, output, variables
    and Runtime API port (the compiled client is loaded only now, as it reads the port once); it
    calls ``restore/next`` on its own port and goes on to the after-restore hooks and
    ``/invocation/next`` as on Lambda, the first of which waits for the modelled restore
    (``_restore_floor``). A child forked with "park" does all but the variables before it parks.
    """
    lrc = awslambdaric.lambda_runtime_client
    original = lrc.LambdaRuntimeClient.restore_next

    def restore_next(self: Any) -> None:
        original(self)  # on the snapshot's port: the init (and before-snapshot hooks) ended
        req, fds = _serve_restores(snap_fd)  # returns in each forked child only
        os.dup2(fds[0], 1)
        os.dup2(fds[0], 2)
        os.close(fds[0])
        os.environ.clear()
        os.environ.update(req["env"])
        self.lambda_runtime_address = req["env"]["AWS_LAMBDA_RUNTIME_API"]
        _runtime_client_loaded()
        plat = req.get("platform")
        if req.get("park") and len(fds) > 1:  # forked ahead: wait for an environment's variables
            go = _wait_for_go(fds[1])
            os.environ.clear()
            os.environ.update(go["env"])
            _log_settings_read()
            plat = go.get("platform")
        if "tempfile" in sys.modules:  # its cached directory is the snapshot's TMPDIR
            setattr(sys.modules["tempfile"], "tempdir", None)  # noqa: B010
        original(self)  # on its own port: the environment is restoring
        if plat:
            _restore_floor(self, float(plat["start"]) + float(plat["restore"]))

    lrc.LambdaRuntimeClient.restore_next = restore_next


def _restore_floor(client: Any, modelled_end: float) -> None:
    """The restore's end: the modelled restore plus the after-restore hooks' own time.

    Called when ``restore/next`` returned; the hooks then run at once, and the first
    ``/invocation/next`` waits until the modelled restore's end plus the hooks' own time (their
    wall time less the time they waited for one of this machine's CPUs). On Lambda each
    environment resumes on its own microVM; here everything before the hooks (the hand-over, the
    child's wake-up, ``restore/next``'s round trip through the manager's loop, which serves 150
    environments and shares the local cloud's interpreter) is this machine's, and waiting after
    the work absorbs the queueing where a wait before it could not. That end is marked on stdout
    (RETURNED_MARK with RESTORED_MARK_ID) before ``/next``, whose request reaches the loop late
    at a burst, as a call's end is marked before its answer (``output.py``). What this machine
    took beyond it is in the caller's latency, not in Restore Duration.
    """
    wall0, (_, delay0) = time.time(), schedstat()
    first_next = client.wait_next_invocation

    def wait_next_invocation() -> Any:
        del client.wait_next_invocation  # the class's own from now on
        _, delay = schedstat()
        now = time.time()
        end = modelled_end + max(0.0, now - wall0 - (delay - delay0))
        if end > now:
            time.sleep(end - now)
        with contextlib.suppress(OSError):  # when it ended, for the manager (like a call's end)
            os.write(1, RETURNED_MARK + f"{RESTORED_MARK_ID} {end:.6f}\n".encode())
        return first_next()

    client.wait_next_invocation = wait_next_invocation


def _serve_restores(snap_fd: int) -> tuple[dict[str, Any], list[int]]:
    """The snapshot's fork loop (same protocol as ``main``'s); returns only in a forked child:
    the request and its descriptors (the output pipe; with "park", the go socket)."""
    ctl = socket.socket(fileno=snap_fd)
    ctl.setblocking(True)
    parent = os.getpid()
    gc.collect()
    gc.freeze()  # the init's objects stay shared between restored environments
    hello = {"ready": True, "costs": {}, "errors": {}, "threads": threading.active_count()}
    hello["version"] = platform.python_version()
    ctl.send(json.dumps(hello).encode())
    wake_r, wake_w, sel, send = _serving(ctl)
    children: set[int] = set()
    while True:
        for key, _ in sel.select():
            if key.data == "wake":
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 4096):
                        pass
                _reap(children, send)
                continue
            try:
                msg, fds, _flags, _addr = socket.recv_fds(ctl, 1 << 20, 2)
            except OSError:
                msg, fds = b"", []
            if not msg:  # the manager is gone, or the version was deleted
                for pid in children:
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGKILL)
                os._exit(0)
            req = json.loads(msg)
            pid = _fork(req, fds, send)
            if pid < 0:
                continue
            if pid == 0:
                os.setsid()
                _die_with_parent(parent)
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                sel.close()
                ctl.close()
                os.close(wake_r)
                os.close(wake_w)
                gc.enable()
                return req, fds
            for fd in fds:
                os.close(fd)
            children.add(pid)
            send({"token": req["token"], "pid": pid})


def _serving(ctl: socket.socket) -> tuple[int, int, selectors.BaseSelector, Any]:
    """A fork loop's wakeup pipe (SIGCHLD), selector over it and ``ctl``, and its sender."""
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written

    def send(obj: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            ctl.send(json.dumps(obj).encode())

    sel = selectors.DefaultSelector()
    sel.register(ctl, selectors.EVENT_READ, "ctl")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    return wake_r, wake_w, sel, send


def _fork(req: dict[str, Any], fds: list[int], send: Any) -> int:
    """fork(); -1 (the request answered with the error, its descriptors closed) when it fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        return os.fork()
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        send({"token": req["token"], "error": f"fork failed: {exc}"})
        return -1


def _reap(children: set[int], send: Any) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        send({"exit": pid, "code": os.waitstatus_to_exitcode(status)})


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
    go_fd: int | None,
    snap_fd: int | None = None,
) -> None:
    """In the forked child: become ``python -m awslambdaric HANDLER`` in its own session.

    A parked spare (``go_fd``) runs the runtime up to the handler import, then waits there. A
    snapshot (``snap_fd``) loads the compiled client only in the environments it forks.
    """
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
        gc.enable()
        try:
            if snap_fd is None:
                _runtime_client_loaded()
            else:
                _snapshot(snap_fd)
            if go_fd is not None or req.get("platform"):
                _before_handler(go_fd, req.get("platform"))
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
    args = sys.argv[2:]
    template = None
    if args and args[0].startswith("--template="):
        template = json.loads(args.pop(0)[len("--template=") :])
    costs: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    if template is not None:
        costs, errors = _preload(template)
    threads = threading.active_count()
    # Objects made so far are never freed: keeping the collector off them keeps the children's
    # copy-on-write pages shared (each child re-enables the collector).
    gc.collect()
    gc.freeze()
    gc.disable()
    hello = {
        "ready": True,
        "costs": costs,
        "errors": errors,
        "threads": threads,
        "version": platform.python_version(),
    }
    with contextlib.suppress(OSError):
        ctl.send(json.dumps(hello).encode())
    wake_r, wake_w, sel, send = _serving(ctl)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the manager decides when we stop
    children: set[int] = set()
    running = True
    while running:
        for key, _ in sel.select():
            if key.data == "wake":
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
                _reap(children, send)
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
            go_fd = fds[1] if req.get("park") and len(fds) > 1 else None
            snap_fd = fds[1] if req.get("snapshot") and len(fds) > 1 else None
            pid = _fork(req, fds, send)
            if pid < 0:
                continue
            if pid == 0:
                _child(ctl, sel, wake_r, wake_w, req, fds[0], go_fd, snap_fd)
            for fd in fds:
                os.close(fd)
            children.add(pid)
            send({"token": req["token"], "pid": pid})
        _reap(children, send)
    # The manager is gone: leave nothing behind.
    for pid in list(children):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    for path in args:  # the manager's work and code directories (RAM, for the code)
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
