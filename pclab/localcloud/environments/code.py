"""The deployed code, unpacked once per code SHA-256, like Lambda's /var/task.

On Lambda the package is unpacked before the function becomes Active, so it is no part of a cold
start. Here it happens the first time a version is needed (a provisioned allocation, or the first
invoke), once per distinct zip: functions with the same package (the sample's two functions are
built from one CodeUri) share one read-only tree. The manager never holds its lock while this
runs, so one function's first unpack does not hold up anything else.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import re
import resource
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

from ..invocation import FunctionSpec, LambdaServiceError

_COPY_BUFFER = 1 << 20


class CodeCache:
    """Unpacks each distinct code zip once; every environment of that code shares the directory."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._locks: dict[Path, threading.Lock] = {}

    def task_root(self, spec: FunctionSpec) -> Path:
        safe_sha = re.sub(r"[^A-Za-z0-9]", "", spec.code_sha256)[:32] or "nosha"
        target = self._root / safe_sha
        with self._lock:
            lock = self._locks.setdefault(target, threading.Lock())
        with lock:  # concurrent first calls of the same code wait for one unpack
            if not target.is_dir():
                self._unpack(spec, target)
        return target

    @staticmethod
    def _unpack(spec: FunctionSpec, target: Path) -> None:
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            _extract(spec.code_zip, str(partial))
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            # What Lambda says when the uploaded package cannot be unpacked.
            raise LambdaServiceError(
                "InvalidZipFileException",
                f"Could not unzip uploaded file of function {spec.function_name}: {exc}",
                status=502,
            ) from exc
        partial.rename(target)


def _extract(data: bytes, root: str) -> None:
    """Extract every entry under ``root``, refusing any that would land outside it.

    Written out rather than ``ZipFile.extractall``: a sam-built package holds thousands of small
    files (botocore), and per-entry path resolution and directory checks made that seconds.
    """
    made: set[str] = set()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            name = posixpath.normpath(info.filename.replace("\\", "/")).lstrip("/")
            if name in ("", ".") or name == ".." or name.startswith("../"):
                raise zipfile.BadZipFile(f"entry {info.filename!r} leaves the code root")
            dest = os.path.join(root, name)
            if info.is_dir():
                if dest not in made:
                    os.makedirs(dest, exist_ok=True)
                    made.add(dest)
                continue
            parent = os.path.dirname(dest)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            with zf.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, _COPY_BUFFER)
            mode = (info.external_attr >> 16) & 0o777
            if mode & 0o111:  # keep executables executable (bundled binaries, scripts)
                os.chmod(dest, mode | 0o400)


def raise_open_files_limit() -> None:
    """Each environment holds a port, a connection and a pipe: 300 of them pass a 1,024 limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def code_root(work_dir: Path) -> Path:
    """Where code zips are unpacked: RAM (/dev/shm) when there is some, else the work dir.

    A sam-built package is thousands of small files (botocore); on this project's disk creating
    them took 1-2 s, on tmpfs 0.1 s.
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with contextlib.suppress(OSError):
            if shutil.disk_usage(shm).free > 512 * 1024 * 1024:
                return Path(tempfile.mkdtemp(prefix="pclab-lambda-code-", dir=shm))
    return work_dir / "code"
