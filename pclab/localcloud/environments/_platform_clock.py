"""The platform model's waits inside one environment's process (``_forkserver.py`` uses it).

The fork server and its children run on the function's own Python, which has no pclab: this module
uses the standard library only, and the fork server imports it from its own folder. What the waits
are and why: ``_forkserver.py``'s docstring ("In the child") and ``docs/local-cloud.md``.
"""

from __future__ import annotations

import builtins
import time
from typing import Any


def schedstat() -> tuple[float, float]:
    """(CPU run time, time spent runnable but waiting for a CPU) of this thread, in seconds."""
    try:
        with open("/proc/self/schedstat", "rb") as fh:
            ran, waited = fh.read().split()[:2]
        return int(ran) / 1e9, int(waited) / 1e9
    except (OSError, ValueError):  # kernels without schedstat: CPU time, no contention known
        return time.process_time(), 0.0


class PlatformClock:
    """The platform model's waits inside one environment (module docstring, "In the child")."""

    def __init__(self, plat: dict[str, Any]) -> None:
        self._deadline = float(plat["start"]) + float(plat["runtime_start"])
        self._charges: dict[str, float] = dict(plat.get("charges") or {})
        self._cpu_scale = float(plat.get("cpu_scale", 1.0))
        self._debt = 0.0  # time this machine already lost, absorbed by the next modelled wait
        self._cpu0 = self._delay0 = 0.0
        self._import = builtins.__import__

    def _pay(self, seconds: float) -> None:
        _, delay = schedstat()
        self._debt += max(0.0, delay - self._delay0)  # waiting for this machine's CPU
        self._delay0 = delay
        owed = seconds - self._debt
        if owed > 0:
            time.sleep(owed)
            self._debt = 0.0
        else:
            self._debt = -owed

    def _charged_import(
        self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Any:
        if level == 0 and self._charges:
            charge = self._charges.pop(name.partition(".")[0], None)
            if charge is not None:
                self._pay(charge)
        return self._import(name, globals, locals, fromlist, level)

    def before_handler(self) -> None:
        """The runtime's own start ends; the handler module is about to run."""
        now = time.time()
        if now < self._deadline:
            time.sleep(self._deadline - now)
        else:
            self._debt = now - self._deadline  # this machine's start took longer than Lambda's
        self._cpu0, self._delay0 = schedstat()
        if self._charges:
            builtins.__import__ = self._charged_import

    def after_handler(self, ok: bool) -> None:
        """The handler module ran: its CPU time scaled to the init's share, the rest as it was."""
        builtins.__import__ = self._import
        if ok:
            cpu, _ = schedstat()
            self._pay((cpu - self._cpu0) * (self._cpu_scale - 1.0))

    def lost(self) -> float:
        """Time this machine lost since the runtime's start that no modelled wait absorbed: a
        start later than Lambda's, and time runnable but waiting for one of this machine's CPUs."""
        _, delay = schedstat()
        return self._debt + max(0.0, delay - self._delay0)
