"""Run one of the project's shell scripts (sam-package.sh, sam-deploy.sh) with a bound.

The script runs as the user would run it, its output going to a log file and its last line to
the progress bar. While it runs, ``alive`` (a cheap call to the same endpoint) is asked every
``probe_seconds``: SAM CLI's own waits on an endpoint that stopped answering last minutes per
call (botocore retries, 60 s read timeouts, and a stack waiter of up to an hour), so the demo
watches the endpoint itself and ends the script, its whole process group, once the endpoint has
been silent past the bound (issue 13). The script itself also gets ``PCLAB_SAM_TIMEOUT``
(scripts/sam-common.sh) as a last resort.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from rich.progress import Progress

from pclab.cloud.endpoint import EndpointLost
from pclab.cloud.errors import RunnerError

PROBE_SECONDS = 2.0
TERMINATE_GRACE_SECONDS = 5.0


def run_script(
    command: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    progress: Progress,
    description: str,
    alive: Callable[[], None] | None = None,
    probe_seconds: float = PROBE_SECONDS,
) -> None:
    """Run one script; raise :class:`RunnerError` (one line) if it fails or ``alive`` raises
    :class:`EndpointLost` (the script is then ended first)."""
    task = progress.add_task(description, total=None)
    tail: deque[str] = deque(maxlen=8)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    name = Path(command[0]).name
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group: ended whole (sam and its children)
        )
        assert process.stdout is not None

        def show(text: str) -> None:
            tail.append(text)
            progress.update(task, description=f"{description}: {text[:60]}")

        reader = threading.Thread(
            target=_copy_lines, args=(process.stdout, log, show), name="pclab-script", daemon=True
        )
        reader.start()
        try:
            status = _wait(process, alive, probe_seconds)
        except EndpointLost as lost:
            _end(process)
            raise RunnerError(f"{lost}; {name} was stopped; log: {log_path}") from None
        except BaseException:
            _end(process)
            raise
        finally:
            reader.join(TERMINATE_GRACE_SECONDS)
    progress.update(task, total=1, completed=1, description=description)
    if status != 0:
        last = tail[-1] if tail else "no output"
        raise RunnerError(f"{name} failed (exit {status}): {last}; log: {log_path}")


def _copy_lines(stream: IO[str], log: IO[str], show: Callable[[str], None]) -> None:
    for line in stream:
        log.write(line)
        text = line.strip()
        if text and not set(text) <= set("-="):
            show(text)


def _wait(
    process: subprocess.Popen[str], alive: Callable[[], None] | None, probe_seconds: float
) -> int:
    while True:
        try:
            return process.wait(timeout=probe_seconds)
        except subprocess.TimeoutExpired:
            if alive is not None:
                alive()


def _end(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the script's process group, SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=TERMINATE_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue
