"""The control plane's SnapStart rules: publishing starts a snapshot, Invoke waits for Active.

A mixin of :class:`~pclab.localcloud.lambda_control.LambdaControlPlane` (kept apart for its size).
The snapshot itself is the execution layer's (``environments/snapstart.py``); the PC refusal is in
``put_provisioned_concurrency``. Imports no moto.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pclab.localcloud.invocation import ExecutionLayer, FunctionSpec, LambdaServiceError

if TYPE_CHECKING:
    from pclab.localcloud.lambda_control import FunctionDirectory


class SnapStartRules:
    """PublishVersion, version states and Invoke's errors for SnapStart versions."""

    directory: FunctionDirectory
    _layer: ExecutionLayer | None

    def publish_version(self, region: str, name: str, version: str) -> None:
        """A version of a SnapStart function was published: its init runs once, behind."""
        spec = self.directory.version(region, name, version)
        publish = getattr(self._layer, "publish_snapshot", None)
        if spec is not None and spec.snap_start and publish is not None:
            publish(spec)

    def snapshot_state(self, region: str, name: str, version: str) -> tuple[str, str | None] | None:
        """(State, StateReason) of a SnapStart version: Pending, Active or Failed."""
        status = getattr(self._layer, "snapshot_status", None)
        if status is None:
            return ("Active", None)  # no execution layer: nothing to initialise
        found: tuple[str, str | None] | None = status(name, version)
        return found

    def wait_snapshot(
        self, region: str, name: str, version: str, timeout_seconds: float
    ) -> tuple[str, str | None] | None:
        """Until a SnapStart version is no longer Pending (what CloudFormation waits for)."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            found = self.snapshot_state(region, name, version)
            if found is None or found[0] != "Pending" or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def _check_snapshot(self, region: str, spec: FunctionSpec) -> None:
        """Invoke of a SnapStart version: Lambda's errors while it is not Active."""
        found = self.snapshot_state(region, spec.function_name, spec.version)
        if found is None:  # published before the execution layer was attached: take it now
            self.publish_version(region, spec.function_name, spec.version)
            found = ("Pending", None)
        if found[0] == "Pending":  # Lambda API reference, Invoke errors
            raise LambdaServiceError(
                "SnapStartNotReadyException",
                "Lambda is initializing your function. You can invoke the function when the "
                "function state becomes Active.",
                status=409,
            )
        if found[0] == "Failed":  # Lambda's answer to an Invoke of a function in a Failed state
            raise LambdaServiceError(
                "ResourceConflictException",
                "The operation cannot be performed at this time. The function is currently in the "
                "following state: Failed",
                status=409,
            )
