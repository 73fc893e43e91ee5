"""A Lambda function whose cold start is slow on purpose, so provisioned concurrency shows.

Everything at module level is Lambda's *init phase*: it runs once per execution environment,
before the first invocation, and for provisioned concurrency (PC) it runs when the environment is
allocated rather than when a caller waits. The init sleeps ``COLD_START_DELAY`` seconds to stand in
for a heavy import or a slow connection pool, and records when it started and ended; the handler
then compares those times with each invocation so the caller can tell a cold start (init ended
just before this call) from a PC-served or warm call (init ended long before).

The handler sleeps ``FUNCTION_DURATION`` seconds (or an item's own ``durationSeconds``) inside an
X-Ray subsegment annotated ``cold_start``, and returns a small JSON result (see
``docs/input-output.md``). It runs on Python 3.11 and newer, under real Lambda and under the
Runtime Interface Client (awslambdaric) locally.
"""

from __future__ import annotations

import time

# Taken before any other import: importing aws-xray-sdk (and botocore with it) is itself part of
# a real cold start, and the caller waits for it too.
_INIT_STARTED_AT = time.time()
_INIT_STARTED_PERF = time.perf_counter()

import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import uuid  # noqa: E402
from typing import Any, Protocol  # noqa: E402

from aws_xray_sdk.core import xray_recorder  # noqa: E402

# SnapStart's runtime hooks (AWS docs, "Lambda SnapStart runtime hooks for Python"): the
# snapshot-restore-py package is part of Lambda's python3.12+ runtimes, not of python3.11 and
# not of this function's requirements, so import it only when it is there. Without it a restored
# environment is still recognised (AWS_LAMBDA_INITIALIZATION_TYPE, below), only later: at its
# first invocation instead of at its restore.
try:
    from snapshot_restore_py import register_after_restore  # type: ignore[import-untyped]
except ImportError:  # python3.11, or outside Lambda without the package
    register_after_restore = None

# Outside Lambda (a plain import, a local script) there is no trace context at all; the SDK's
# default then logs an error for every subsegment. Ignoring is the useful default here: inside
# Lambda the SDK uses its own Lambda context, which always has a segment (real or no-op) and
# ignores this setting. An explicit AWS_XRAY_CONTEXT_MISSING still wins (the SDK reads it first).
xray_recorder.configure(context_missing="IGNORE_ERROR")


class ConfigurationError(ValueError):
    """An environment variable the init needs is missing or not a usable number of seconds."""


class InvalidItemError(ValueError):
    """The invocation's payload asks for something this function cannot do."""


def _seconds_from_env(name: str, parameter: str) -> float:
    """Read a non-negative, finite number of seconds; fail the init with the fix if it is not.

    An exception here fails Lambda's init phase, and Lambda reports its message as the init
    error, so the message names both the variable and the template parameter that sets it.
    """
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        raise ConfigurationError(
            f"environment variable {name} is not set: set it to a number of seconds >= 0 "
            f"(the template sets it from the {parameter} parameter)"
        )
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(
            f"environment variable {name}={raw!r} is not a number: set it to a number of "
            f"seconds >= 0 (the template sets it from the {parameter} parameter)"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError(
            f"environment variable {name}={raw!r} must be a finite number of seconds >= 0 "
            f"(the template sets it from the {parameter} parameter)"
        )
    return value


COLD_START_DELAY = _seconds_from_env("COLD_START_DELAY", "ColdStartDelaySeconds")
FUNCTION_DURATION = _seconds_from_env("FUNCTION_DURATION", "FunctionDurationSeconds")

# Lambda sets this for the environment's whole life: "on-demand", "provisioned-concurrency" or
# "snap-start" (SnapStart runs this init once, when the version is published, and every new
# environment resumes from its snapshot). Locally (no Lambda) it is absent.
INITIALIZATION_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "unknown")
SNAP_START = INITIALIZATION_TYPE == "snap-start"

# One id per execution environment (per import of this module). 12 hex digits (48 bits) keep the
# per-item result short while making a collision among a few thousand environments negligible.
# Under SnapStart this line ran once, in the snapshot: every restored environment would share the
# id, so a restore makes a new one (AWS docs, "Handling uniqueness with Lambda SnapStart").
ENVIRONMENT_ID = uuid.uuid4().hex[:12]
_restored_at: float | None = None  # epoch seconds this environment resumed from the snapshot


def _after_restore() -> None:
    """Runs in each restored environment before its first invocation: make it unique again."""
    global ENVIRONMENT_ID, _restored_at
    ENVIRONMENT_ID = uuid.uuid4().hex[:12]
    _restored_at = time.time()


if register_after_restore is not None:
    register_after_restore(_after_restore)

# The stand-in for expensive initialisation.
time.sleep(COLD_START_DELAY)

_INIT_ENDED_AT = time.time()
_INIT_ENDED_PERF = time.perf_counter()
INIT_DURATION_MS = (_INIT_ENDED_PERF - _INIT_STARTED_PERF) * 1000.0

_invocations = 0


class LambdaContext(Protocol):
    """The parts of Lambda's context object this handler reads."""

    aws_request_id: str
    function_name: str
    function_version: str

    def get_remaining_time_in_millis(self) -> int: ...


def _work_seconds(item: Any) -> float:
    """The time to work for this item: its own ``durationSeconds`` if given, else the default."""
    if not isinstance(item, dict) or "durationSeconds" not in item:
        return FUNCTION_DURATION
    value = item["durationSeconds"]
    # bool is an int subclass; true/false as a duration is a mistake, not 1 or 0 seconds.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidItemError(
            f"item {item.get('id')!r}: durationSeconds={value!r} is not a number: "
            "give a number of seconds >= 0, or leave it out to use FUNCTION_DURATION"
        )
    if not math.isfinite(value) or value < 0:
        raise InvalidItemError(
            f"item {item.get('id')!r}: durationSeconds={value!r} must be a finite number of "
            "seconds >= 0"
        )
    return float(value)


def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Work for the configured time and report how this environment was initialised."""
    global _invocations
    started_at = time.time()
    started_perf = time.perf_counter()

    if not isinstance(event, dict):
        raise InvalidItemError(
            f'the payload must be a JSON object like {{"item": {{"id": 1}}}}, got {event!r}'
        )
    item = event.get("item")
    work_seconds = _work_seconds(item)
    remaining_seconds = context.get_remaining_time_in_millis() / 1000.0
    if work_seconds >= remaining_seconds:
        # Sleeping past the deadline would end in a timeout that hides the cause.
        raise InvalidItemError(
            f"item {item.get('id') if isinstance(item, dict) else None!r}: work of "
            f"{work_seconds:g} s does not fit in the {remaining_seconds:.1f} s left before the "
            "function's timeout"
        )

    _invocations += 1
    first_invocation = _invocations == 1
    if first_invocation and SNAP_START and _restored_at is None:
        _after_restore()  # no runtime hook ran (no snapshot-restore-py): restored all the same
    restored = _restored_at is not None

    with xray_recorder.in_subsegment("work") as subsegment:
        # None only when there is no trace context at all (outside Lambda); inside Lambda an
        # unsampled call gets a no-op subsegment. Annotate the subsegment, not the segment: the
        # Lambda segment is a read-only facade.
        if subsegment is not None:
            subsegment.put_annotation("cold_start", first_invocation)
            subsegment.put_annotation("restored", restored)
        time.sleep(work_seconds)

    finished_at = time.time()
    result: dict[str, Any] = {
        "requestId": context.aws_request_id,
        "environmentId": ENVIRONMENT_ID,
        "firstInvocation": first_invocation,
        "initializationType": INITIALIZATION_TYPE,
        "restored": restored,
        "restoredAt": round(_restored_at, 3) if _restored_at is not None else None,
        "initStartedAt": round(_INIT_STARTED_AT, 3),
        "initEndedAt": round(_INIT_ENDED_AT, 3),
        "initDurationMs": round(INIT_DURATION_MS, 1),
        "sinceInitEndMs": round((started_perf - _INIT_ENDED_PERF) * 1000.0, 1),
        "startedAt": round(started_at, 3),
        "finishedAt": round(finished_at, 3),
        "workSeconds": work_seconds,
        "functionName": context.function_name,
        "functionVersion": context.function_version,
        "item": item,
    }
    # One line per invocation in CloudWatch Logs, searchable with Logs Insights.
    print(json.dumps(result, separators=(",", ":")))
    return result
