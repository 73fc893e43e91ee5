"""Invoking many at once, as a Map state does, and reading the answers."""

from __future__ import annotations

import ast
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pclab.localcloud.environments import EnvironmentManager
from pclab.localcloud.invocation import (
    FunctionSpec,
    InvokeRequest,
    InvokeResult,
    LambdaServiceError,
    ProvisionedStatus,
)

FORKSERVER = Path(__file__).resolve().parents[3] / "pclab/localcloud/environments/_forkserver.py"


def forkserver_constant(name: str) -> object:
    """A constant of ``_forkserver.py``, read from its source: that script runs on other
    interpreters and imports nothing of pclab, so pclab keeps copies the tests compare."""
    tree = ast.parse(FORKSERVER.read_text())
    [value] = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == name for t in node.targets)
        and isinstance(node.value, ast.Constant)
    ]
    return value


def invoke(
    mgr: EnvironmentManager,
    spec: FunctionSpec,
    event: dict[str, Any] | None = None,
    *,
    qualifier: str | None = None,
    tail: bool = False,
    trace_header: str | None = None,
) -> InvokeResult:
    return mgr.invoke(
        InvokeRequest(
            spec=spec,
            payload=json.dumps(event or {}).encode(),
            provisioned_qualifier=qualifier,
            log_type="Tail" if tail else "None",
            trace_header=trace_header,
        )
    )


def invoke_many(
    mgr: EnvironmentManager,
    spec: FunctionSpec,
    events: list[dict[str, Any]],
    *,
    qualifier: str | None = None,
) -> list[InvokeResult | LambdaServiceError]:
    """All at once from as many threads; each entry is the result or the service error.

    The threads meet at a barrier first: started one by one, 100 threads on a loaded machine took
    longer than a 0.5 s handler, and early calls' environments were free again for late ones.
    """
    together = threading.Barrier(max(1, len(events)), timeout=60)

    def one(event: dict[str, Any]) -> InvokeResult | LambdaServiceError:
        together.wait()
        try:
            return invoke(mgr, spec, event, qualifier=qualifier)
        except LambdaServiceError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        return list(pool.map(one, events))


def body(result: InvokeResult | LambdaServiceError) -> dict[str, Any]:
    assert isinstance(result, InvokeResult), f"expected a result, got {result!r}"
    assert result.function_error is None, result.payload
    doc: dict[str, Any] = json.loads(result.payload)
    return doc


def wait_status(
    mgr: EnvironmentManager, name: str, qualifier: str, want: ProvisionedStatus, timeout: float
) -> tuple[ProvisionedStatus, int, str | None]:
    deadline = time.monotonic() + timeout
    status = mgr.provisioned_status(name, qualifier)
    while time.monotonic() < deadline:
        status = mgr.provisioned_status(name, qualifier)
        if status[0] == want:
            return status
        time.sleep(0.05)
    raise AssertionError(f"provisioned status stayed {status}, wanted {want}")
