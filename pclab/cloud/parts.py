"""One run, several executions of the same state machine, when one execution cannot hold it.

Two limits of one Step Functions execution would otherwise cap what a run can measure:

- **256 KiB of output.** The Map collects every item's result into the execution output, and a
  failed item's record (``{"id", "error": {"Error", "Cause"}}``, the state machine's Catch with
  ``ResultPath: $.error``) is bigger than a success: 9 items out of retries made 1,250 items'
  output fail with States.DataLimitExceeded at the very end. So items are cut into parts whose
  output fits even if every item fails with a Cause of up to :data:`CAUSE_BUDGET_BYTES` (Lambda's
  service errors, throttles included, are ~250 bytes; the report reads the whole Cause, request
  id included, so the state machine keeps it whole and the budget is the runner's). The parts of
  a burst start together: a burst stays a burst.
- **5 minutes per express child.** Each item waits for its arrival inside its own child
  execution, so one execution's arrivals span at most 240 s (``ARRIVAL_SPAN_LIMIT_S``). Longer
  arrivals ("replay my last hour") are cut into windows of at most that span; each
  window's executions start just in time (their items stamped from the run's one arrival zero),
  so no child waits longer than its window plus the lead.

The limits are a :class:`Limits` value the runner takes (tests lower them), not constants only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from pclab.cloud.errors import RunnerError
from pclab.cloud.input import (
    ARRIVAL_SPAN_LIMIT_S,
    PAYLOAD_LIMIT_BYTES,
    RUN_SPAN_LIMIT_S,
    ExecutionInput,
    arrival_lead,
    arrival_span,
    item_offset,
    output_bytes,
    result_bytes,
)

# The longest Cause budgeted per failed item (bytes as the output writes them, escapes included).
# Lambda's own errors are short: "Rate Exceeded. (Service: AWSLambda; Status Code: 429; ...)"
# ~190, a timeout or a killed environment ~150-200; a handler's exception with a stack trace can
# be longer, and only matters if most items of one part fail with it.
CAUSE_BUDGET_BYTES = 512
ERROR_NAME_BYTES = 64  # "Lambda.TooManyRequestsException" is 32
_STAMP_BYTES = len(',"startAt":"2025-01-01T00:00:00Z"')


@dataclass(frozen=True)
class Limits:
    """What one execution holds; the runner's parameters (a test may lower them)."""

    payload_bytes: int = PAYLOAD_LIMIT_BYTES  # execution input and output, each
    window_s: int = ARRIVAL_SPAN_LIMIT_S  # arrivals of one execution, first to last
    cause_bytes: int = CAUSE_BUDGET_BYTES  # a failed item's Cause, budgeted
    run_span_s: int = RUN_SPAN_LIMIT_S  # arrivals of the whole run


@dataclass(frozen=True)
class Part:
    """One execution's share of the run's items."""

    number: int  # 1, 2, ... in start order (raw files: describe-execution-<number>.json)
    run_input: ExecutionInput
    window: int  # 0, 1, ...: the parts of one window start together
    anchor_s: int  # the window's first offset from the run's arrival zero (0 for a burst)

    @property
    def lead_s(self) -> int:
        return arrival_lead(len(self.run_input.items))

    def due(self, zero: float) -> float:
        """When to start it (epoch seconds) for the run's arrival zero: its lead before the
        window's first arrival. A burst's parts are due at once."""
        return zero + self.anchor_s - self.lead_s


def failure_bytes(item_id: Any, cause_bytes: int = CAUSE_BUDGET_BYTES) -> int:
    """Upper bound of a failed item's entry (with its separating comma), Cause budgeted."""
    shell = {"id": item_id, "error": {"Error": "", "Cause": ""}}
    return len(json.dumps(shell, separators=(",", ":"))) + ERROR_NAME_BYTES + cause_bytes + 1


def _output_cost(item: dict[str, Any], limits: Limits) -> int:
    item_id = item.get("id")
    return max(result_bytes(item_id), failure_bytes(item_id, limits.cause_bytes))


def _input_cost(item: dict[str, Any]) -> int:
    stamp = _STAMP_BYTES if item_offset(item) is not None else 0
    return len(json.dumps(item, separators=(",", ":"))) + 1 + stamp


def plan(run_input: ExecutionInput, limits: Limits = Limits()) -> list[Part]:
    """The run's items as parts: arrival windows of at most ``window_s`` (in offset order), each
    cut into as few parts as fit ``payload_bytes`` of input and output, of even size."""
    items = run_input.items
    offsets = [item_offset(item) for item in items]
    timed = [o for o in offsets if o is not None]
    if timed and max(timed) > limits.run_span_s:
        raise RunnerError(
            f"{run_input.origin}: the last call arrives after {max(timed)} s; one run replays "
            f"at most {limits.run_span_s} s ({limits.run_span_s / 3600:g} h): shorten the span"
        )
    rest = {k: v for k, v in run_input.document.items() if k != "items"}
    input_shell = len(json.dumps({**rest, "items": []}, separators=(",", ":")))
    windows: list[tuple[int, list[dict[str, Any]]]] = []
    if not timed:
        windows.append((0, list(items)))
    else:
        # an item without a whole offset invokes as soon as its child starts: the first window
        order = sorted(range(len(items)), key=lambda i: offsets[i] or 0)
        for index in order:
            offset = offsets[index] or 0
            if not windows:
                # the first window counts from the zero unless its first call comes later
                windows.append((0 if offset <= limits.window_s else offset, []))
            elif offset - windows[-1][0] > limits.window_s:
                windows.append((offset, []))
            windows[-1][1].append(items[index])
    parts: list[Part] = []
    for window, (anchor, chosen) in enumerate(windows):
        for share in _fit(chosen, input_shell, limits, run_input.origin):
            document = {**rest, "items": share}
            parts.append(
                Part(len(parts) + 1, ExecutionInput(document, run_input.origin), window, anchor)
            )
    return parts


def _fit(
    items: list[dict[str, Any]], input_shell: int, limits: Limits, origin: str
) -> list[list[dict[str, Any]]]:
    """``items`` in the fewest even shares whose input and budgeted output each fit."""
    outputs = [_output_cost(item, limits) for item in items]
    inputs = [_input_cost(item) for item in items]
    room_out = limits.payload_bytes - output_bytes([])
    room_in = limits.payload_bytes - input_shell
    for index, (out, given) in enumerate(zip(outputs, inputs, strict=True)):
        if out > room_out or given > room_in:
            raise RunnerError(
                f"{origin}: item {json.dumps(items[index].get('id'))} alone does not fit one "
                f"execution's {limits.payload_bytes // 1024} KiB input or output: make it smaller"
            )
    count = max(1, math.ceil(sum(outputs) / room_out), math.ceil(sum(inputs) / room_in))
    while True:
        bounds = [round(len(items) * k / count) for k in range(count + 1)]
        spans = list(pairwise(bounds))
        if all(sum(outputs[a:b]) <= room_out and sum(inputs[a:b]) <= room_in for a, b in spans):
            return [items[a:b] for a, b in spans if b > a]
        count += 1


def for_map(
    run_input: ExecutionInput,
    load_mode: str | None,
    max_concurrency: int | None,
    limits: Limits = Limits(),
) -> tuple[list[Part], str | None]:
    """The parts this Map runs the items as, or why they cannot run as one run on it.

    Parts started together run more items at once than one execution would: an inline Map (at
    most 40 at once) or a MapMaxConcurrency caps each execution, not the run, so splitting would
    change what the run asks for. A burst whose successes fit one execution then runs as one, as
    before splitting existed (room for a few failures only)."""
    parts = plan(run_input, limits)
    if len(parts) == 1 or not (load_mode == "INLINE" or max_concurrency):
        return parts, None
    if arrival_span(run_input) is None and output_bytes(run_input.items) <= limits.payload_bytes:
        return [Part(1, run_input, 0, 0)], None
    what = "LoadMode=INLINE" if load_mode == "INLINE" else f"MapMaxConcurrency={max_concurrency}"
    return parts, (
        f"{len(run_input.items)} items need {len(parts)} executions (each holds 256 KiB of "
        f"results, failures included) but {what} caps each execution, not the run"
    )
