"""What Lambda writes about each invocation: X-Ray segments and CloudWatch Logs lines.

Shapes follow real Lambda (see FACTS.md) so the project's analysis parses local and cloud runs with
the same code: an ``AWS::Lambda`` segment (the service, what the caller waited for) with a child
``AWS::Lambda::Function`` segment holding ``Initialization`` (only when the caller waited for init),
``Invocation`` and ``Overhead`` subsegments; START / END / REPORT lines in one log stream per
environment, ``Init Duration`` only on cold starts.

Delivery to the :class:`TelemetrySink` happens on a worker thread in batches, so a slow sink (moto's
backends behind locks) never adds latency to an invocation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import platform
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..invocation import TelemetrySink
from .loop import EventLoopThread

log = logging.getLogger(__name__)

XRAY_RCVBUF_BYTES = 4 * 1024 * 1024  # the default ~208 KB lost most datagrams under load
_XRAY_HEADER = b'{"format":"json","version":1}'


# --- ids and headers ---------------------------------------------------------------------------
def new_trace_id(now: float | None = None) -> str:
    return f"1-{int(now if now is not None else time.time()):08x}-{secrets.token_hex(12)}"


def new_segment_id() -> str:
    return secrets.token_hex(8)


def parse_trace_header(header: str | None) -> dict[str, str]:
    """``Root=1-...;Parent=...;Sampled=1`` → ``{"Root": ..., "Parent": ..., "Sampled": "1"}``."""
    fields: dict[str, str] = {}
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            fields[key] = value
    return fields


# --- CloudWatch Logs lines ---------------------------------------------------------------------
def log_stream_name(version: str, now: float | None = None) -> str:
    """Lambda's stream name for a new environment: ``2026/11/26/[$LATEST]<32 hex>``."""
    day = time.strftime("%Y/%m/%d", time.gmtime(now if now is not None else time.time()))
    return f"{day}/[{version}]{secrets.token_hex(16)}"


def init_start_line(
    runtime: str,
    region: str,
    python_version: str,
    *,
    note: str | None = None,
    modelled: dict[str, float | str] | None = None,
) -> str:
    """INIT_START as Lambda writes it, naming the Python that really ran.

    Lambda: ``INIT_START Runtime Version: python:3.13.v14\tRuntime Version ARN: arn:...`` (developer
    guide, "Identifying Lambda runtime version changes"). Here the version is
    ``python:<major.minor that ran>.local-<full version>``; when that is not the declared runtime's
    Python, a ``Declared Runtime`` field says so, and with the platform model on a ``Modelled``
    field says which part of the init is Lambda's modelled time (fields after Lambda's own two, so
    a parser of Lambda's line reads the same values).
    """
    ran = ".".join(python_version.split(".")[:2])
    line = (
        f"INIT_START Runtime Version: python:{ran}.local-{python_version}\t"
        f"Runtime Version ARN: arn:aws:lambda:{region}::runtime:local-python-{python_version}"
    )
    if runtime != f"python{ran}" or note:
        line += f"\tDeclared Runtime: {runtime} (ran on Python {python_version}"
        line += f": {note})" if note else ")"
    if modelled:
        line += (
            f"\tModelled: runtime start {float(modelled['runtime_start_ms']):.0f} ms + dependency "
            f"imports {float(modelled['dependency_imports_ms']):.0f} ms "
            f"(platform model {modelled['platform_model']})"
        )
    return line


def restore_start_line(init_start: str, restore_ms: float | None) -> str:
    """RESTORE_START: INIT_START's runtime fields (``RESTORE_START Runtime Version: java:11.v21
    Runtime Version ARN: ...`` on AWS), and when modelled, the modelled part of the restore."""
    fields = [f for f in init_start.split("\t") if not f.startswith("Modelled:")]
    line = "RESTORE_" + "\t".join(fields).removeprefix("INIT_")
    if restore_ms is not None:
        line += f"\tModelled: snapshot restore {restore_ms:.0f} ms (unmeasured for Python)"
    return line


def restore_report_line(duration_ms: float, error_type: str | None = None) -> str:
    """RESTORE_REPORT, written when a restored environment is ready (or its restore failed)."""
    line = f"RESTORE_REPORT Restore Duration: {duration_ms:.2f} ms"
    if error_type:
        line += f"\tStatus: error\tError Type: {error_type}"
    return line


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


@dataclass(frozen=True)
class ReportFields:
    request_id: str
    duration_ms: float
    memory_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None  # only when the caller waited for init
    bill_init: bool = True  # on-demand init is billed; a provisioned environment's is not
    status: str | None = None  # "timeout", "error" (the runtime died), None when it answered
    error_type: str | None = None
    trace_id: str | None = None
    segment_id: str | None = None
    sampled: bool = False
    restore_duration_ms: float | None = None  # SnapStart: the caller waited for this restore
    billed_restore_ms: float | None = None  # its after-restore part (runtime load, hooks)


def billed_duration_ms(fields: ReportFields) -> int:
    total = fields.duration_ms
    if fields.init_duration_ms is not None and fields.bill_init:
        total += fields.init_duration_ms
    return max(1, math.ceil(total))


def report_line(fields: ReportFields) -> str:
    """The REPORT line exactly as Lambda writes it (text log format)."""
    parts = [
        f"REPORT RequestId: {fields.request_id}",
        f"Duration: {fields.duration_ms:.2f} ms",
        f"Billed Duration: {billed_duration_ms(fields)} ms",
        f"Memory Size: {fields.memory_mb} MB",
        f"Max Memory Used: {fields.max_memory_used_mb} MB",
    ]
    if fields.init_duration_ms is not None:
        parts.append(f"Init Duration: {fields.init_duration_ms:.2f} ms")
    if fields.restore_duration_ms is not None:  # "Monitoring for Lambda SnapStart"
        parts.append(f"Restore Duration: {fields.restore_duration_ms:.2f} ms")
        parts.append(f"Billed Restore Duration: {math.ceil(fields.billed_restore_ms or 0.0)} ms")
    if fields.status is not None:
        parts.append(f"Status: {fields.status}")
    if fields.error_type is not None:
        parts.append(f"Error Type: {fields.error_type}")
    line = "\t".join(parts) + "\t"
    if fields.trace_id and fields.sampled:
        line += (
            f"\nXRAY TraceId: {fields.trace_id}\tSegmentId: {fields.segment_id}\t"
            f"Sampled: {'true' if fields.sampled else 'false'}\t"
        )
    return line


def init_report_line(duration_ms: float, phase: str, status: str, error_type: str | None) -> str:
    """Written when an init fails or times out (INIT_REPORT, as Lambda logs it)."""
    line = f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
    if error_type:
        line += f"\tError Type: {error_type}"
    return line


def iso_now(now: float | None = None) -> str:
    t = now if now is not None else time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


# --- X-Ray segments ----------------------------------------------------------------------------
@dataclass
class InvocationTrace:
    """The times Lambda's own segments are built from (epoch seconds)."""

    trace_id: str
    caller_parent_id: str | None
    service_segment_id: str
    function_segment_id: str
    invocation_subsegment_id: str
    function_name: str
    function_arn: str  # as invoked (qualified when the caller qualified it)
    account_id: str
    request_id: str
    service_start: float
    service_end: float = 0.0
    init: tuple[float, float] | None = None
    invocation: tuple[float, float] | None = None
    overhead_end: float | None = None
    function_error: bool = False
    error_type: str | None = None
    init_modelled: dict[str, float | str] | None = None  # the platform model's part of the init
    restore: tuple[float, float] | None = None  # SnapStart: the restore the caller waited for
    platform_model: str | None = None  # the local cloud's platform model, when it shaped times


def lambda_segments(t: InvocationTrace) -> list[str]:
    """The ``AWS::Lambda`` and ``AWS::Lambda::Function`` segment documents of one invocation."""
    aws_fn = {"function_arn": t.function_arn}
    service: dict[str, Any] = {
        "id": t.service_segment_id,
        "trace_id": t.trace_id,
        "name": t.function_name,
        "origin": "AWS::Lambda",
        "start_time": t.service_start,
        "end_time": t.service_end,
        "http": {"response": {"status": 200}},
        "aws": {"request_id": t.request_id},
        "resource_arn": t.function_arn,
    }
    if t.caller_parent_id:
        service["parent_id"] = t.caller_parent_id
    if t.platform_model:
        # Not Lambda's: this call's times come from the local cloud's platform model (its init,
        # and its end at the runtime's answer: output.py), so a report can say they are modelled.
        service["metadata"] = {"pclab": {"platform_model": t.platform_model}}
    subsegments: list[dict[str, Any]] = []
    if t.init is not None:
        subsegments.append(
            {
                "id": new_segment_id(),
                "name": "Initialization",
                "start_time": t.init[0],
                "end_time": t.init[1],
                "aws": aws_fn,
                # Not Lambda's: says which part of this init the local cloud modelled.
                **({"metadata": {"pclab": t.init_modelled}} if t.init_modelled else {}),
            }
        )
    if t.restore is not None:  # SnapStart's subsegment in place of Initialization
        subsegments.append(
            {
                "id": new_segment_id(),
                "name": "Restore",
                "start_time": t.restore[0],
                "end_time": t.restore[1],
                "aws": aws_fn,
            }
        )
    inv_start, inv_end = t.invocation if t.invocation else (t.service_start, t.service_end)
    invocation: dict[str, Any] = {
        "id": t.invocation_subsegment_id,
        "name": "Invocation",
        "start_time": inv_start,
        "end_time": inv_end,
        "aws": aws_fn,
    }
    if t.function_error:
        invocation["error"] = True
        if t.error_type:
            invocation["cause"] = {"exceptions": [{"id": new_segment_id(), "type": t.error_type}]}
    subsegments.append(invocation)
    overhead_end = t.overhead_end if t.overhead_end is not None else inv_end
    if overhead_end > inv_end:
        subsegments.append(
            {
                "id": new_segment_id(),
                "name": "Overhead",
                "start_time": inv_end,
                "end_time": overhead_end,
                "aws": aws_fn,
            }
        )
    function: dict[str, Any] = {
        "id": t.function_segment_id,
        "trace_id": t.trace_id,
        "parent_id": t.service_segment_id,
        "name": t.function_name,
        "origin": "AWS::Lambda::Function",
        # The function segment starts with the invocation; Initialization starts before it.
        "start_time": inv_start,
        "end_time": max(overhead_end, inv_end),
        "aws": {
            "function_arn": t.function_arn,
            "resource_names": [t.function_name],
            "account_id": t.account_id,
        },
        "subsegments": subsegments,
    }
    if t.function_error:
        function["error"] = True
    return [json.dumps(service), json.dumps(function)]


# --- delivery ----------------------------------------------------------------------------------
class TelemetryPipeline:
    """Batches log events and segment documents onto one worker thread that calls the sink."""

    def __init__(self, sink: TelemetrySink, interval: float = 0.05) -> None:
        self._sink = sink
        self._interval = interval
        self._q: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._submitted = 0
        self._done = 0
        self._thread = threading.Thread(target=self._run, name="pclab-telemetry", daemon=True)
        self._thread.start()

    def put_log(self, group: str, stream: str, timestamp_ms: int, message: str) -> None:
        self._submit(("log", (group, stream, timestamp_ms, message)))

    def put_segments(self, documents: list[str]) -> None:
        if documents:
            self._submit(("seg", documents))

    def _submit(self, item: tuple[str, Any]) -> None:
        with self._idle:
            self._submitted += 1
        self._q.put(item)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far reached the sink."""
        deadline = time.monotonic() + timeout
        with self._idle:
            target = self._submitted
            while self._done < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        self.flush(10.0)
        self._q.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            batch = [item]
            time.sleep(self._interval)  # let a burst gather into one sink call
            stop = False
            while True:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._deliver(batch)
            with self._idle:
                self._done += len(batch)
                self._idle.notify_all()
            if stop:
                return

    def _deliver(self, batch: list[tuple[str, Any]]) -> None:
        logs: dict[tuple[str, str], list[tuple[int, str]]] = {}
        segments: list[str] = []
        for kind, payload in batch:
            if kind == "log":
                group, stream, ts, message = payload
                logs.setdefault((group, stream), []).append((ts, message))
            else:
                segments.extend(payload)
        for (group, stream), events in logs.items():
            try:
                self._sink.put_log_events(group, stream, events)
            except Exception:
                log.exception("could not deliver %d log events to %s", len(events), stream)
        for i in range(0, len(segments), 50):
            try:
                self._sink.put_trace_segments(segments[i : i + 50])
            except Exception:
                log.exception("could not deliver %d trace segments", len(segments[i : i + 50]))


class XRayDaemon:
    """A UDP listener standing in for the X-Ray daemon the handler's aws-xray-sdk sends to."""

    def __init__(
        self,
        loop_thread: EventLoopThread,
        deliver: Callable[[list[str]], None],
        port: int | None = None,
    ) -> None:
        self._loop_thread = loop_thread
        self._deliver = deliver
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, XRAY_RCVBUF_BYTES)
        sock.bind(("127.0.0.1", port or 0))
        sock.setblocking(False)
        self._sock = sock
        self.port: int = sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.received = 0
        self.rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        loop_thread.call(loop_thread.loop.add_reader, sock.fileno(), self._readable)

    def _readable(self) -> None:
        docs: list[str] = []
        while True:
            try:
                data = self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            header, sep, body = data.partition(b"\n")
            if not sep or header.strip() != _XRAY_HEADER:
                continue  # not the daemon wire format: the real daemon drops it too
            self.received += 1
            docs.append(body.decode("utf-8", "replace"))
        if docs:
            self._deliver(docs)

    def close(self) -> None:
        def stop() -> None:
            with contextlib.suppress(ValueError, OSError):
                self._loop_thread.loop.remove_reader(self._sock.fileno())
            self._sock.close()

        try:
            self._loop_thread.call(stop)
        except Exception:
            self._sock.close()


def python_version() -> str:
    return platform.python_version()


def memory_peak_mb(pid: int) -> int:
    """Peak resident memory of the environment's process (Lambda's ``Max Memory Used``)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return max(1, int(line.split()[1]) // 1024)
    except OSError:
        pass
    return 0
