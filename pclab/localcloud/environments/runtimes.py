"""Which Python runs a function: the interpreter its Runtime names, when this machine has it.

A ``python3.12`` function runs on a Python 3.12 found on this machine: the host's own Python if it
is 3.12, else pyenv's (``$PYENV_ROOT/versions/3.12.*``), else ``python3.12`` on ``PATH``. The
runtime client (awslambdaric, compiled) must be importable there, so a small virtual environment
per interpreter is made on first use under the runtime cache directory (``PCLAB_RUNTIME_DIR``,
default ``~/.pclab/runtimes``): ``python3.12 -m venv`` then ``pip install awslambdaric==<the host's
version>`` from PyPI, a few seconds once, reused afterwards. When there is no such interpreter, or
the install fails (offline), the function runs on the host's Python and :attr:`Interpreter.note`
says why; the manager logs it once and the INIT_START line names what really ran.

Only the runtime client goes into that environment, as on Lambda only the runtime is there: the
function's dependencies come from its code (``sam build`` puts them in the zip).
Imports nothing of pclab.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

_PROBE = "import platform, sys; print(platform.python_version()); print(sys.executable)"
_READY_MARKER = ".pclab-runtime-ready"
INSTALL_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class Interpreter:
    """The Python an environment runs on, and where its runtime client lives."""

    declared: str  # the function's Runtime, e.g. "python3.12"
    python: str  # the executable the fork server runs on
    version: str  # what it is, e.g. "3.12.1"
    runtime_dir: str  # LAMBDA_RUNTIME_DIR: the directory holding awslambdaric
    note: str | None = None  # why this is not the declared runtime's Python; None when it is

    @property
    def substituted(self) -> bool:
        return self.note is not None


def default_cache_dir() -> Path:
    configured = os.environ.get("PCLAB_RUNTIME_DIR")
    return Path(configured) if configured else Path.home() / ".pclab" / "runtimes"


def _wanted(runtime: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _probe(executable: str) -> tuple[str, str] | None:
    """(version, real executable) of a candidate interpreter, or None when it does not run."""
    try:
        out = subprocess.run(
            [executable, "-c", _PROBE], capture_output=True, text=True, timeout=20, check=True
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    return (out[0].strip(), out[1].strip()) if len(out) >= 2 else None


def find_python(major: int, minor: int) -> tuple[str, str] | None:
    """(version, executable) of a Python major.minor on this machine other than the host's."""
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    found = glob.glob(os.path.join(pyenv_root, "versions", f"{major}.{minor}.*", "bin", "python3"))

    def patch_level(path: str) -> tuple[int, ...]:
        version = Path(path).parents[1].name.split(".")
        return tuple(int(p) if p.isdigit() else -1 for p in version)

    candidates = sorted(found, key=patch_level, reverse=True)
    on_path = shutil.which(f"python{major}.{minor}")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        probed = _probe(candidate)
        if probed and probed[0].split(".")[:2] == [str(major), str(minor)]:
            return probed
    return None


class Runtimes:
    """Resolves a Runtime to an :class:`Interpreter`, once per runtime (thread-safe)."""

    def __init__(self, cache_dir: Path | None = None, host_python: str = sys.executable) -> None:
        self._cache_dir = cache_dir or default_cache_dir()
        self._host_python = host_python
        self._host_version = platform.python_version()
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._resolved: dict[str, Interpreter] = {}
        found = importlib.util.find_spec("awslambdaric")
        if found is None or found.origin is None:
            raise RuntimeError(
                "awslambdaric is not installed: pip install 'pclab[local]' to run Lambda functions"
            )
        self._host_runtime_dir = str(Path(found.origin).parent.parent)

    @property
    def host_runtime(self) -> str:
        return "python" + ".".join(self._host_version.split(".")[:2])

    def host(self, declared: str, note: str | None) -> Interpreter:
        return Interpreter(
            declared, self._host_python, self._host_version, self._host_runtime_dir, note
        )

    def resolve(self, runtime: str) -> Interpreter:
        with self._lock:
            if runtime in self._resolved:
                return self._resolved[runtime]
            lock = self._locks.setdefault(runtime, threading.Lock())
        with lock:  # many first callers of one runtime: one lookup (and one install)
            with self._lock:
                if runtime in self._resolved:
                    return self._resolved[runtime]
            found = self._find(runtime)
            with self._lock:
                self._resolved[runtime] = found
            return found

    def _find(self, runtime: str) -> Interpreter:
        if runtime == self.host_runtime:
            return self.host(runtime, None)
        wanted = _wanted(runtime)
        if wanted is None:
            return self.host(runtime, f"{runtime} is not a Python runtime")
        found = find_python(*wanted)
        if found is None:
            return self.host(
                runtime,
                f"no Python {wanted[0]}.{wanted[1]} on this machine (install it with pyenv, or "
                f"put python{wanted[0]}.{wanted[1]} on PATH)",
            )
        version, executable = found
        try:
            venv = self._runtime_env(runtime, version, executable)
        except RuntimeError as exc:
            return self.host(runtime, str(exc))
        site = venv / "lib" / f"python{wanted[0]}.{wanted[1]}" / "site-packages"
        return Interpreter(runtime, str(venv / "bin" / "python"), version, str(site), None)

    def _runtime_env(self, runtime: str, version: str, executable: str) -> Path:
        """A virtual environment of ``executable`` with the runtime client, made once."""
        client = f"awslambdaric=={importlib.metadata.version('awslambdaric')}"
        venv = self._cache_dir / f"{runtime}-{version}"
        if (venv / _READY_MARKER).is_file():
            return venv
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        with open(self._cache_dir / f".{venv.name}.lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # another local cloud may be making it too
            if (venv / _READY_MARKER).is_file():
                return venv
            shutil.rmtree(venv, ignore_errors=True)
            steps = [
                [executable, "-m", "venv", str(venv)],
                [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                 "--disable-pip-version-check", client],
            ]  # fmt: skip
            for step in steps:
                try:
                    subprocess.run(
                        step,
                        capture_output=True,
                        text=True,
                        timeout=INSTALL_TIMEOUT_SECONDS,
                        check=True,
                    )
                except (OSError, subprocess.SubprocessError) as exc:
                    shutil.rmtree(venv, ignore_errors=True)
                    detail = getattr(exc, "stderr", None) or str(exc)
                    last = (detail.strip().splitlines() or ["no output"])[-1]
                    raise RuntimeError(
                        f"Python {version} is at {executable}, but its runtime client could not "
                        f"be installed ({' '.join(step[-2:])}: {last}); check PyPI access, or "
                        f"remove {venv} and retry"
                    ) from exc
            with contextlib.suppress(OSError):
                (venv / _READY_MARKER).write_text(client + "\n")
        return venv
