"""Runs the real handler module in a fresh interpreter, the way one execution environment would.

Each test process must import ``concurrencytest`` afresh (its init runs once per import, with the
delays from the environment), so the tests run this file as a subprocess:

    python handler_harness.py '<json plan>'

The plan is ``{"preload": [module, ...], "calls": [{"event": ..., "trace_header": ...,
"remaining_ms": ...}, ...], "restore": bool}``; modules in ``preload`` are imported before the
timed import; with ``restore`` the SnapStart after-restore hooks run after it; modules in
``hide`` cannot be imported (a runtime without them). The harness prints one JSON line:
``{"import_seconds": ..., "results": [...]}``, where each result is either
``{"ok": <handler result>}`` or ``{"error": <exception class>, "message": ...}``. An import
failure propagates (traceback on stderr, exit status 1), as it would fail Lambda's init.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"


@dataclass
class FakeLambdaContext:
    """The attributes Lambda's context object gives the handler."""

    remaining_ms: int = 120_000
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "pclab-BaseConcurrencyTestFunction-abc"
    function_version: str = "7"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def main(plan: dict[str, Any]) -> None:
    sys.path.insert(0, str(FUNCTIONS_DIR))
    for module in plan.get("hide", []):
        sys.modules[module] = None  # type: ignore[assignment]  # its import now fails
    for module in plan.get("preload", []):
        importlib.import_module(module)
    started = time.perf_counter()
    import concurrencytest

    import_seconds = time.perf_counter() - started
    if plan.get("restore"):
        # What the runtime does when it resumes an environment from a SnapStart snapshot.
        from snapshot_restore_py import get_after_restore

        for func, args, kwargs in get_after_restore():
            func(*args, **kwargs)
    results: list[dict[str, Any]] = []
    for call in plan.get("calls", []):
        if call.get("trace_header"):
            # What the runtime client does before each invocation.
            os.environ["_X_AMZN_TRACE_ID"] = call["trace_header"]
        context = FakeLambdaContext(remaining_ms=call.get("remaining_ms", 120_000))
        try:
            results.append({"ok": concurrencytest.lambda_handler(call["event"], context)})
        except Exception as error:
            results.append({"error": type(error).__name__, "message": str(error)})
    print(json.dumps({"import_seconds": import_seconds, "results": results}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
