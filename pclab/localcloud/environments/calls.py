"""What an Invoke request becomes: the event an environment is handed, and Lambda's answer.

Kept apart from the manager, which decides *where* a call runs; this module only knows what Lambda
puts in a call (request id, the X-Ray trace header the runtime sees, the invoked ARN) and what it
answers (payload, ``X-Amz-Function-Error``, the log tail), including for an init that failed.
"""

from __future__ import annotations

import base64
import time
import uuid

from ...lambda_model.platform import PlatformModel
from ..invocation import InvokeRequest, InvokeResult
from . import telemetry as tm
from .environment import InitOutcome, Invocation, InvocationOutcome

LOG_TAIL_BYTES = 4096  # LogType=Tail returns the last 4 KB of the call's log (Invoke API docs)


def invoked_arn(request: InvokeRequest) -> str:
    """The ARN the caller named (alias or version qualified), as the runtime's context shows it."""
    spec = request.spec
    if request.provisioned_qualifier:
        return f"{spec.function_arn}:{request.provisioned_qualifier}"
    if spec.version != "$LATEST":
        return f"{spec.function_arn}:{spec.version}"
    return spec.function_arn


def trace_context(
    request: InvokeRequest,
    arn: str,
    request_id: str,
    accepted_at: float,
    platform: PlatformModel,
) -> tuple[str, tm.InvocationTrace | None]:
    """The header the runtime gets, and the trace Lambda records (None when not sampled)."""
    spec = request.spec
    fields = tm.parse_trace_header(request.trace_header)
    sampled_flag = fields.get("Sampled")
    traced = sampled_flag == "1" or (spec.tracing_active and sampled_flag != "0")
    root = fields.get("Root") or tm.new_trace_id(accepted_at)
    if not traced:
        parent = fields.get("Parent") or tm.new_segment_id()
        return f"Root={root};Parent={parent};Sampled=0", None
    trace = tm.InvocationTrace(
        trace_id=root,
        caller_parent_id=fields.get("Parent"),
        service_segment_id=tm.new_segment_id(),
        function_segment_id=tm.new_segment_id(),
        invocation_subsegment_id=tm.new_segment_id(),
        function_name=spec.function_name,
        function_arn=arn,
        account_id=spec.account_id,
        request_id=request_id,
        service_start=accepted_at,
        platform_model=platform.name if platform.enabled else None,
    )
    # The handler's SDK subsegments nest under the Invocation subsegment.
    return f"Root={root};Parent={trace.invocation_subsegment_id};Sampled=1", trace


def new_invocation(
    request: InvokeRequest, accepted_at: float, platform: PlatformModel, *, provisioned: bool
) -> Invocation:
    """The event as the environment gets it (its init fields are set by whoever knows them)."""
    spec = request.spec
    request_id = str(uuid.uuid4())
    arn = invoked_arn(request)
    header, trace = trace_context(request, arn, request_id, accepted_at, platform)
    return Invocation(
        request_id=request_id,
        payload=request.payload,
        invoked_arn=arn,
        runtime_trace_header=header,
        timeout_seconds=float(spec.timeout_seconds),
        bill_init=not provisioned,
        trace=trace,
        capture_log=request.log_type == "Tail",
    )


def _tail(lines: list[str]) -> str:
    return base64.b64encode(("\n".join(lines) + "\n").encode()[-LOG_TAIL_BYTES:]).decode()


def invoke_result(
    request: InvokeRequest, inv: Invocation, outcome: InvocationOutcome
) -> InvokeResult:
    """Lambda's answer to a call that ran: an error the handler raised is ``Unhandled``."""
    return InvokeResult(
        status_code=200,
        payload=outcome.body,
        executed_version=request.spec.version,
        function_error=None if outcome.kind == "response" else "Unhandled",
        log_result=_tail(inv.log_lines) if request.log_type == "Tail" else None,
        request_id=inv.request_id,
    )


def init_failure_result(
    request: InvokeRequest,
    init: InitOutcome,
    accepted_at: float,
    platform: PlatformModel,
    pipeline: tm.TelemetryPipeline,
    log: tuple[str, str],
) -> InvokeResult:
    """The runtime could not initialise: Lambda answers with the init error, as Unhandled, and
    logs the call as one that ran for 0 ms after that init."""
    spec = request.spec
    request_id = str(uuid.uuid4())
    now = time.time()
    lines = [
        tm.start_line(request_id, spec.version),
        tm.end_line(request_id),
        tm.report_line(
            tm.ReportFields(
                request_id=request_id,
                duration_ms=0.0,
                memory_mb=spec.memory_mb,
                max_memory_used_mb=0,
                init_duration_ms=init.duration_ms,
                status="error",
                error_type=init.error_type,
            )
        ),
    ]
    for line in lines:  # the environment's own group and stream
        pipeline.put_log(*log, int(now * 1000), line)
    _, trace = trace_context(request, invoked_arn(request), request_id, accepted_at, platform)
    if trace is not None:
        trace.init = (init.started_at, init.ended_at)
        trace.invocation = (init.ended_at, now)
        trace.service_end = now
        trace.function_error = True
        trace.error_type = init.error_type
        pipeline.put_segments(tm.lambda_segments(trace))
    return InvokeResult(
        status_code=200,
        payload=init.payload,
        executed_version=spec.version,
        function_error="Unhandled",
        log_result=_tail(lines) if request.log_type == "Tail" else None,
        request_id=request_id,
    )
