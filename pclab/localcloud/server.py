"""Start, stop and inspect the local cloud: a moto server on localhost with our extensions.

One process serves everything over HTTP on one port, like AWS's endpoints behind
``AWS_ENDPOINT_URL``: moto's services, our Lambda routes (:mod:`pclab.localcloud.lambda_api`) and,
when :mod:`pclab.localcloud.environments` is present, the Lambda execution environments.

``--detach`` runs the same server in a child process in its own session, with a pid file and a
log file in the state directory (``$PCLAB_STATE_DIR`` or ``~/.pclab/local-cloud``); ``stop`` ends
exactly the process the pid file names, after checking it is a local cloud.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pclab.localcloud.invocation import ExecutionLayer, TelemetrySink
from pclab.localcloud.lambda_control import DEFAULT_ACCOUNT_LIMIT, LambdaControlPlane
from pclab.localcloud.quiet_gc import QuietCollector

DEFAULT_PORT = 4577
HOST = "localhost"
BIND_ADDRESS = "127.0.0.1"  # localhost only: never reachable from other machines
READY_TIMEOUT_SECONDS = 30.0
PID_FILE = "local-cloud.pid"
LOG_FILE = "local-cloud.log"


class LocalCloudError(Exception):
    """A problem the user can fix (port in use, already running, ...): one line with the fix."""


def state_dir() -> Path:
    configured = os.environ.get("PCLAB_STATE_DIR")
    return Path(configured) if configured else Path.home() / ".pclab" / "local-cloud"


def endpoint(port: int) -> str:
    return f"http://{HOST}:{port}"


def export_lines(port: int) -> str:
    """What a user exports to point SAM CLI, the AWS CLI and boto3 at the local cloud."""
    return (
        f"export AWS_ENDPOINT_URL={endpoint(port)} AWS_DEFAULT_REGION=us-east-1 "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
    )


def load_execution_layer(telemetry: TelemetrySink) -> ExecutionLayer | None:
    """The Lambda execution environments, if that part is installed; None otherwise.

    Only a missing ``pclab.localcloud.environments`` package means "no layer": any other import
    error is a bug in that package and is raised, not hidden.
    """
    try:
        module = importlib.import_module("pclab.localcloud.environments")
    except ModuleNotFoundError as error:
        if error.name in ("pclab.localcloud.environments",):
            return None
        raise
    manager_class = getattr(module, "EnvironmentManager", None)
    if manager_class is None:
        return None
    idle = float(os.environ.get("PCLAB_ENV_IDLE_TIMEOUT", "600"))
    layer: ExecutionLayer = manager_class(
        telemetry=telemetry, idle_timeout_seconds=idle, platform_model=platform_model_name()
    )
    return layer


def lambda_metric_datums(control: LambdaControlPlane) -> list[Any]:
    """The execution layer's per-minute Lambda metrics (none without an execution layer)."""
    metrics = getattr(control.execution_layer, "metrics", None)
    return [] if metrics is None else list(metrics.datums())


def platform_model_name() -> str:
    """``PCLAB_PLATFORM_MODEL`` (``aws``, the default, or ``none``: raw local timings)."""
    name = os.environ.get("PCLAB_PLATFORM_MODEL", "aws")
    if name not in ("aws", "none"):
        raise LocalCloudError(
            f"PCLAB_PLATFORM_MODEL={name!r} is not a platform model: use aws (Lambda's timings) "
            "or none (raw local timings)"
        )
    return name


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((BIND_ADDRESS, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((BIND_ADDRESS, 0))
        port: int = probe.getsockname()[1]
        return port


class LocalCloud:
    """The server in this process: moto's WSGI app, our Lambda routes, the control plane."""

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        *,
        account_limit: int = DEFAULT_ACCOUNT_LIMIT,
        with_execution_layer: bool = True,
        verbose: bool = False,
    ) -> None:
        self.port = port
        self.account_limit = account_limit
        self.with_execution_layer = with_execution_layer
        self.verbose = verbose
        self.control: LambdaControlPlane | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._gc: QuietCollector | None = None

    @property
    def url(self) -> str:
        return endpoint(self.port)

    def start(self) -> None:
        from werkzeug.serving import make_server

        from pclab.localcloud import moto as moto_ext
        from pclab.localcloud.api_gateway import HttpApis
        from pclab.localcloud.lambda_api import LambdaApi

        moto_ext.configure_moto()
        sink = moto_ext.MotoTelemetrySink()
        directory = moto_ext.MotoFunctionDirectory()
        control = LambdaControlPlane(
            directory,
            account_limit=self.account_limit,
            telemetry=sink,
        )
        moto_ext.install(
            control,
            telemetry=sink,
            metrics=lambda: lambda_metric_datums(control),
            cloudformation_now=False,
        )
        app = HttpApis(
            LambdaApi(
                moto_ext.moto_wsgi_app(),
                control,
                before_service={"cloudformation": moto_ext.ensure_cloudformation},
            ),
            control,
            moto_ext.http_api_route,
        )
        handler = moto_ext.request_handler(verbose=self.verbose)

        in_use = LocalCloudError(
            f"port {self.port} is in use (another local cloud? see "
            "`pclab local-cloud status`); choose another with --port"
        )
        try:
            self._server = make_server(
                BIND_ADDRESS, self.port, app, threaded=True, request_handler=handler
            )
        except SystemExit:  # werkzeug prints "Address already in use" and exits on its own
            raise in_use from None
        except OSError as error:
            if error.errno == errno.EADDRINUSE or "in use" in str(error).lower():
                raise in_use from None
            raise
        self.port = int(self._server.server_port)  # port 0: the one the kernel chose
        directory.endpoint_url = self.url  # functions' SDK calls come back here
        if self.with_execution_layer:
            layer = load_execution_layer(sink)
            if layer is not None:
                control.attach_execution_layer(layer)
        self.control = control
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-cloud", daemon=True
        )
        self._thread.start()
        idle_seconds = getattr(control.execution_layer, "idle_seconds", None)
        self._gc = QuietCollector(idle_seconds) if idle_seconds is not None else None

        def warm_then_freeze() -> None:
            # The SAM translator takes about a second to import: do it now, off the request
            # path; then what is loaded leaves the garbage collector's full passes.
            _warm_imports()
            if self._gc is not None:
                self._gc.start()

        threading.Thread(target=warm_then_freeze, name="warm-imports", daemon=True).start()

    @property
    def has_execution_layer(self) -> bool:
        return self.control is not None and self.control.execution_layer is not None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._gc is not None:
            self._gc.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.control is not None:
            from pclab.localcloud import moto as moto_ext

            moto_ext.deactivate()
            self.control.shutdown()
            self.control.attach_execution_layer(None)


def _warm_imports() -> None:
    """What the first deploy needs, loaded while the user types: CloudFormation, the translator."""
    from pclab.localcloud import moto as moto_ext

    with contextlib.suppress(Exception):
        moto_ext.ensure_cloudformation()
        importlib.import_module("samtranslator.translator.translator")


# ------------------------------------------------------------------ pid file
@dataclass(frozen=True)
class PidRecord:
    pid: int
    port: int
    log_file: str | None = None


def _pid_path() -> Path:
    return state_dir() / PID_FILE


def read_pid_record() -> PidRecord | None:
    path = _pid_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return PidRecord(int(data["pid"]), int(data["port"]), data.get("log_file"))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        raise LocalCloudError(f"pid file {path} is unreadable; delete it and retry") from None


def _write_pid_record(record: PidRecord) -> None:
    path = _pid_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record.__dict__), encoding="utf-8")
    tmp.replace(path)


def _remove_pid_record(pid: int) -> None:
    record = None
    with contextlib.suppress(LocalCloudError):
        record = read_pid_record()
    if record is not None and record.pid == pid:
        _pid_path().unlink(missing_ok=True)


def _is_local_cloud_process(pid: int) -> bool:
    """Alive, and its command line is one of ours (a reused pid must never be signalled)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return True  # no /proc (macOS): trust the pid file
    return b"pclab" in cmdline and b"local" in cmdline


def _live_record() -> PidRecord | None:
    """The pid record of a running local cloud; a stale one is removed (and None returned)."""
    record = read_pid_record()
    if record is None:
        return None
    if _is_local_cloud_process(record.pid):
        return record
    _pid_path().unlink(missing_ok=True)
    return None


def _healthy(port: int, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://{BIND_ADDRESS}:{port}/moto-api/data.json", timeout=timeout
        ):
            return True
    except Exception:
        return False


# ------------------------------------------------------------------ commands
def _refuse_second_start(port: int) -> None:
    record = read_pid_record()
    if record is not None and not _is_local_cloud_process(record.pid):
        print(f"pclab: removed a stale pid file (process {record.pid} is gone)", file=sys.stderr)
        _pid_path().unlink(missing_ok=True)
        record = None
    if record is not None:
        raise LocalCloudError(
            f"a local cloud is already running (pid {record.pid}, port {record.port}); "
            "stop it first with `pclab local-cloud stop`"
        )
    if port_in_use(port):
        raise LocalCloudError(
            f"port {port} is in use by another program; choose another with --port"
        )


def run_foreground(
    port: int, *, account_limit: int = DEFAULT_ACCOUNT_LIMIT, verbose: bool = False
) -> int:
    """Serve until SIGINT/SIGTERM; the pid file lets `status`/`stop` find this process too."""
    _refuse_second_start(port)
    started = time.monotonic()
    cloud = LocalCloud(port, account_limit=account_limit, verbose=verbose)
    cloud.start()
    log_file = os.environ.get("PCLAB_LOCAL_CLOUD_LOG")
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    layer = (
        f"on (platform model: {platform_model_name()})"
        if cloud.has_execution_layer
        else "off (pclab.localcloud.environments not installed)"
    )
    print(f"Local cloud ready at {cloud.url} in {time.monotonic() - started:.2f} s", flush=True)
    print(f"Lambda execution environments: {layer}", flush=True)
    print(export_lines(port), flush=True)
    # last: a detached start returns once this file names us, and reads the lines above
    _write_pid_record(PidRecord(os.getpid(), port, log_file))
    try:
        stop.wait()
    finally:
        cloud.stop()
        _remove_pid_record(os.getpid())
    return 0


def _no_status(message: str) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


def start_detached(port: int, *, account_limit: int = DEFAULT_ACCOUNT_LIMIT) -> PidRecord:
    """Start the server in the background; return once it answers (or explain why not)."""
    _refuse_second_start(port)
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / LOG_FILE
    command = [
        sys.executable,
        "-m",
        "pclab.cli",
        "local-cloud",
        "start",
        "--port",
        str(port),
        "--account-concurrency",
        str(account_limit),
    ]
    env = {**os.environ, "PCLAB_LOCAL_CLOUD_LOG": str(log_path), "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in this terminal does not reach the server
            env=env,
        )
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
            raise LocalCloudError(
                f"the local cloud exited at start ({'; '.join(tail) or 'no output'}); "
                f"see {log_path}"
            )
        record = None
        with contextlib.suppress(LocalCloudError):
            record = read_pid_record()
        if record is not None and record.pid == child.pid and _healthy(port, timeout=0.5):
            return PidRecord(record.pid, record.port, str(log_path))
        time.sleep(0.05)
    child.terminate()
    raise LocalCloudError(
        f"the local cloud did not become ready in {READY_TIMEOUT_SECONDS:.0f} s; see {log_path}"
    )


@contextlib.contextmanager
def private_cloud(
    port: int,
    directory: Path,
    *,
    show: Callable[[str], contextlib.AbstractContextManager[Any]] = _no_status,
) -> Iterator[PidRecord]:
    """A detached local cloud for the length of the block, stopped at its end whatever happens.

    Its state (pid and log files) lives in ``directory``, so it never collides with a local cloud
    the user runs, and its log can stay next to what the caller writes. ``show`` wraps the start
    and the stop (e.g. a spinner). A failed stop is a warning: the caller's work is done by then.
    """
    previous = os.environ.get("PCLAB_STATE_DIR")
    os.environ["PCLAB_STATE_DIR"] = str(directory)  # the detached server inherits it
    try:
        with show(f"Starting the local cloud on port {port}"):
            record = start_detached(port)
        yield record
    finally:
        with show("Stopping the local cloud"):
            try:
                stop_running()
            except LocalCloudError as error:
                print(f"pclab: warning: {error}", file=sys.stderr)
        if previous is None:
            os.environ.pop("PCLAB_STATE_DIR", None)
        else:
            os.environ["PCLAB_STATE_DIR"] = previous


def environments_line(record: PidRecord) -> str | None:
    """The "Lambda execution environments: on/off" line the detached server logged at start."""
    if not record.log_file:
        return None
    try:
        lines = Path(record.log_file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    found = [line for line in lines if line.startswith("Lambda execution environments: ")]
    return found[-1] if found else None


def stop_running(timeout_seconds: float = 15.0) -> PidRecord | None:
    """Stop the local cloud the pid file names; None when none runs (a stale file is removed)."""
    record = read_pid_record()
    if record is None:
        return None
    if not _is_local_cloud_process(record.pid):
        _pid_path().unlink(missing_ok=True)
        raise LocalCloudError(
            f"no local cloud is running (removed a stale pid file naming process {record.pid})"
        )
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline and not _exited(record.pid):
        _reap(record.pid)
        time.sleep(0.05)
    if not _exited(record.pid):
        os.kill(record.pid, signal.SIGKILL)
        _reap(record.pid)
    _pid_path().unlink(missing_ok=True)
    return record


def _exited(pid: int) -> bool:
    """Gone, or a zombie waiting for its parent (init) to collect it: either way not running."""
    if not Path("/proc/self/stat").exists():  # no /proc (macOS): ask the kernel directly
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _reap(pid: int) -> None:
    """Collect the exit status if the server is our own child (tests), so no zombie remains."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def status() -> tuple[PidRecord | None, bool]:
    """(record of the running local cloud or None, whether it answers HTTP)."""
    record = _live_record()
    if record is None:
        return None, False
    return record, _healthy(record.port)


@dataclass(frozen=True)
class CloudStatus:
    """What ``pclab local-cloud status`` shows: is one running, does it answer, its last words."""

    state: str  # "none" | "running" | "not-answering" | "dead"
    record: PidRecord | None = None
    log_file: str | None = None  # None: started in the foreground, its output went to a terminal
    log_tail: tuple[str, ...] = ()


def inspect(tail_lines: int = 10, answer_timeout: float = 3.0) -> CloudStatus:
    """Tell a live local cloud from a dead one (pid file, process gone: killed or crashed) and
    from a stuck one (process alive, HTTP unanswered within ``answer_timeout``; a run of
    hundreds of environments can keep it busy for a second, hence more than ``status()``'s
    one). A dead one's pid file is removed, as ``start`` would; its log stays."""
    record = read_pid_record()
    if record is None:
        return CloudStatus("none")
    log_file = record.log_file
    tail = _log_tail(log_file, tail_lines)
    if not _is_local_cloud_process(record.pid):
        _pid_path().unlink(missing_ok=True)
        return CloudStatus("dead", record, log_file, tail)
    if _healthy(record.port, timeout=answer_timeout):
        return CloudStatus("running", record, log_file)
    return CloudStatus("not-answering", record, log_file, tail)


def _log_tail(log_file: str | None, lines: int) -> tuple[str, ...]:
    if not log_file:
        return ()
    try:
        with open(log_file, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))  # the end is enough: logs grow long
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ()
    return tuple(line for line in text.splitlines() if line.strip())[-lines:]
