"""Whether the demo can deploy the SnapStart arm: a Python 3.12 that ``sam build`` can run.

SnapStart for Python needs python3.12 or later (the template's ``SnapStartArm=auto`` leaves the arm
out on python3.11). ``sam build`` builds a ``python3.12`` function with the ``python3.12`` it finds
on PATH (aws-lambda-builders' python_pip workflow looks the runtime's name up and runs it to check
its version), so a pyenv *shim* is not enough: it fails unless 3.12 is the selected pyenv version.
This finds a working interpreter (pyenv's ``$PYENV_ROOT/versions/3.12.*``, then PATH) and gives the
scripts a directory holding only a ``python3.12`` link to it, put first on their PATH, so nothing
else the scripts run changes.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

WANTED = "python3.12"


def _works(python: str) -> bool:
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == "True"


def find_python312() -> str | None:
    """A python3.12 executable that runs, or None."""
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = sorted(glob.glob(os.path.join(root, "versions", "3.12*", "bin", WANTED)))
    on_path = shutil.which(WANTED)
    candidates += [on_path] if on_path else []
    return next((c for c in reversed(candidates) if _works(c)), None)


def link_dir(python: str, into: Path) -> Path:
    """A directory with only ``python3.12`` (a link to ``python``), for the front of PATH."""
    into.mkdir(parents=True, exist_ok=True)
    link = into / WANTED
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(python)
    return into
