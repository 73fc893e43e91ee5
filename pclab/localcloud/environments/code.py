"""The deployed code, unpacked once per (function, code SHA-256) like Lambda's /var/task."""

from __future__ import annotations

import io
import re
import shutil
import stat
import threading
import zipfile
from pathlib import Path

from ..invocation import FunctionSpec, LambdaServiceError


class CodeCache:
    """Unpacks each function's zip once; every environment of that code shares the directory."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._locks: dict[Path, threading.Lock] = {}

    def task_root(self, spec: FunctionSpec) -> Path:
        safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", spec.function_name)
        safe_sha = re.sub(r"[^A-Za-z0-9]", "", spec.code_sha256)[:24] or "nosha"
        target = self._root / f"{safe_name}-{safe_sha}"
        with self._lock:
            lock = self._locks.setdefault(target, threading.Lock())
        with lock:
            if not target.is_dir():
                self._unpack(spec, target)
        return target

    @staticmethod
    def _unpack(spec: FunctionSpec, target: Path) -> None:
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            with zipfile.ZipFile(io.BytesIO(spec.code_zip)) as zf:
                for info in zf.infolist():
                    dest = (partial / info.filename).resolve()
                    if not str(dest).startswith(str(partial.resolve())):
                        raise zipfile.BadZipFile(f"entry {info.filename!r} leaves the code root")
                    zf.extract(info, partial)
                    mode = (info.external_attr >> 16) & 0o777
                    if mode and not info.is_dir():
                        dest.chmod(mode | stat.S_IRUSR)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            # What Lambda says when the uploaded package cannot be unpacked.
            raise LambdaServiceError(
                "InvalidZipFileException",
                f"Could not unzip uploaded file of function {spec.function_name}: {exc}",
                status=502,
            ) from exc
        partial.rename(target)

    def remove_function(self, function_name: str) -> None:
        safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", function_name)
        for path in self._root.glob(f"{safe_name}-*"):
            if path.name.rsplit("-", 1)[0] == safe_name:  # not "name-other-..."
                shutil.rmtree(path, ignore_errors=True)
