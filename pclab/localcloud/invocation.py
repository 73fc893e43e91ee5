"""The local cloud's invocation seam: the one place every Lambda call goes through.

The Invoke API and the state machine interpreter's Lambda task both end in
:func:`LambdaControlPlane.invoke` (control plane, in ``lambda_control``), which resolves the
function, version and provisioned-concurrency pool from moto's state into a :class:`FunctionSpec`
and hands it to an :class:`ExecutionLayer` (the execution environments). Errors cross the seam as
:class:`LambdaServiceError`, carrying the code and HTTP status AWS would return, so both callers can
turn them into what AWS shows (an HTTP error for Invoke, ``Lambda.<Code>`` in Step Functions).

Plain data only crosses this seam: nothing here imports moto, so the execution layer can be tested
without a moto server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

ProvisionedStatus = Literal["IN_PROGRESS", "READY", "FAILED"]


class LambdaServiceError(Exception):
    """An error Lambda's API returns instead of running the function (throttle, not found, ...)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int,
        reason: str | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code  # e.g. "TooManyRequestsException", "ResourceNotFoundException"
        self.message = message
        self.status = status  # HTTP status AWS uses for it, e.g. 429
        self.reason = reason  # e.g. "ReservedFunctionConcurrentInvocationLimitExceeded"
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class FunctionSpec:
    """Everything an execution environment needs to run one published version of a function."""

    function_name: str
    function_arn: str  # unqualified ARN
    version: str  # "$LATEST" or "1", "2", ...
    handler: str  # "concurrencytest.lambda_handler"
    runtime: str  # declared runtime, e.g. "python3.11" (we run the machine's own Python)
    memory_mb: int
    timeout_seconds: int
    environment: dict[str, str]  # the function's own variables only
    code_sha256: str  # identifies the code: unpack once per (function, sha)
    code_zip: bytes = field(repr=False)
    tracing_active: bool = False  # TracingConfig Mode Active
    region: str = "us-east-1"
    account_id: str = "123456789012"
    # What Lambda adds for the function's AWS SDK: the execution role's session credentials, and on
    # the local cloud AWS_ENDPOINT_URL (its services). Empty: dummy credentials, no endpoint.
    service_environment: dict[str, str] = field(default_factory=dict, repr=False)
    # SnapStart ApplyOn PublishedVersions, on a published version ($LATEST never restores)
    snap_start: bool = False


@dataclass(frozen=True)
class InvokeRequest:
    spec: FunctionSpec
    payload: bytes
    # Pool key of the provisioned concurrency that serves this call, e.g. "live" for the alias or
    # "3" for a version, or None when the caller used $LATEST / the unqualified ARN (PC bypassed).
    provisioned_qualifier: str | None
    trace_header: str | None = None  # "Root=1-...;Parent=...;Sampled=1" from the caller
    log_type: Literal["None", "Tail"] = "None"
    invocation_type: Literal["RequestResponse", "Event", "DryRun"] = "RequestResponse"
    # The qualifier the caller named (alias or version), None for $LATEST / unqualified: the
    # Resource dimension of the call's CloudWatch metrics ("name:qualifier").
    qualifier: str | None = None


@dataclass(frozen=True)
class InvokeResult:
    """What Lambda's Invoke returns when the function ran (even if it failed)."""

    status_code: int  # 200 (RequestResponse), 202 (Event), 204 (DryRun)
    payload: bytes
    executed_version: str
    function_error: str | None = None  # "Unhandled" when the handler or runtime failed
    log_result: str | None = None  # base64 of the last 4 KB of the log, with LogType Tail
    request_id: str = ""


class TelemetrySink(Protocol):
    """Where execution environments deliver what Lambda writes to X-Ray and CloudWatch Logs.

    Implemented over moto's X-Ray and Logs backends by
    :class:`pclab.localcloud.moto.MotoTelemetrySink`.
    """

    def put_trace_segments(self, documents: list[str]) -> None: ...

    def put_log_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        """Append ``(timestamp_ms, message)`` events, creating the group and stream if needed."""
        ...


class ExecutionLayer(Protocol):
    """The Lambda data plane: execution environments and the concurrency model."""

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        """Run one invocation; raise LambdaServiceError for throttles and service faults."""
        ...

    def set_reserved_concurrency(self, function_name: str, reserved: int | None) -> None: ...

    def set_account_limit(self, limit: int) -> None: ...

    def put_provisioned_concurrency(self, spec: FunctionSpec, qualifier: str, count: int) -> None:
        """Start (or resize) the provisioned pool; returns at once, allocation goes on behind."""
        ...

    def delete_provisioned_concurrency(self, function_name: str, qualifier: str) -> None: ...

    def provisioned_status(
        self, function_name: str, qualifier: str
    ) -> tuple[ProvisionedStatus, int, str | None]:
        """(status, environments ready, failure reason) of a provisioned pool."""
        ...

    def delete_function(self, function_name: str) -> None:
        """Stop every environment of the function (it was deleted)."""
        ...

    def publish_snapshot(self, spec: FunctionSpec) -> None:
        """SnapStart: run the init of a published version once, behind (the version is Pending)."""
        ...

    def snapshot_status(self, function_name: str, version: str) -> tuple[str, str | None] | None:
        """SnapStart: ("Pending" | "Active" | "Failed", reason), None when there is no snapshot."""
        ...

    def shutdown(self) -> None:
        """Stop every environment; leave no process behind."""
        ...
