"""The execution input: load ``--input FILE`` or make ``--items N``, and refuse what cannot work.

Every check here protects a run that would otherwise fail minutes later, or fail silently: an item
without an ``id`` breaks the state machine's ResultSelector; a duplicate id makes two calls
indistinguishable where a source lacks request ids. The sizes here (the execution output's upper
bound per item) let pclab/cloud/parts.py cut a run into executions that each fit Step Functions'
256 KiB: one too big would fail at the very end, with every Lambda call already paid for.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pclab.cloud.errors import RunnerError

# Step Functions limits an execution's input and output to 256 KiB of UTF-8 text.
PAYLOAD_LIMIT_BYTES = 256 * 1024

# One Map iteration's output (COMMON.md "State machine execution output"), with the longest
# values a real run produces: request id (36), environment id (12), the longest init type,
# 5-digit milliseconds, epoch seconds with milliseconds, a 4-digit version. The item's own id is
# added per item.
_WORST_CASE_RESULT = {
    "id": None,
    "req": "00000000-0000-0000-0000-000000000000",
    "env": "000000000000",
    "first": False,
    "initType": "provisioned-concurrency",
    "initMs": 99999.9,
    "start": 1764170000.123,
    "end": 1764170003.124,
    "ver": "9999",
}
_RESULT_BYTES_WITHOUT_ID = len(json.dumps(_WORST_CASE_RESULT, separators=(",", ":"))) - len("null")
_ENVELOPE_BYTES = len('{"results":[]}')

# Arrival-shaped load (items with startAfterSeconds, docs/input-output.md): each item's wait runs
# in its own express child execution (LoadMode=DISTRIBUTED), which Step Functions stops after 5
# minutes, wait included. One execution's last arrival 240 s after its first (plus the lead below)
# leaves about a minute for the call itself (FunctionDurationSeconds is at most 60); longer
# arrivals run as several executions, one per window of 240 s (pclab/cloud/parts.py), up to a day.
ARRIVAL_SPAN_LIMIT_S = 240
RUN_SPAN_LIMIT_S = 24 * 3600

# Each child counts a startAfterSeconds wait from its own start, and a Distributed Map starts its
# children over seconds (25-35 a second on the local cloud, bench_load and bench_arrivals; AWS
# ramps too and does not document a rate): calls at 59 s arrived 5.7 s late. So every execution
# gets its items stamped, when it is started, with an absolute ``startAt`` (the state machine's
# Wait then uses TimestampPath): the arrivals' time zero is the start rounded up to a whole
# second (Step Functions reads timestamps to the second) plus a lead that leaves the Map time to
# start every child before the first calls are due (with 2 s, 583 calls' first 30 s bunched into
# extra cold starts: children still starting were late). Children start in item order, so the
# last ones (the latest arrivals) still fit the express child's 5 minutes.
ARRIVAL_LEAD_S = 2  # the least lead
CHILD_STARTS_PER_SECOND = 25  # the slowest rate measured here
ARRIVAL_LEAD_MAX_S = 30
_STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class ExecutionInput:
    """The document every state machine of the run gets, and where it came from."""

    document: dict[str, Any]
    origin: str  # file name, or "--items N"

    @property
    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.document["items"]
        return items

    @property
    def text(self) -> str:
        return json.dumps(self.document, separators=(",", ":"))

    def stamped(self, now: float) -> ExecutionInput:
        """This input as one execution started at ``now`` (epoch seconds) must get it: each item
        with a whole ``startAfterSeconds`` also carries ``startAt``, arrival zero plus that offset
        (:func:`arrival_zero`). Without such items, the input itself (the original burst)."""
        return self.stamped_from(arrival_zero(now, len(self.items)))

    def stamped_from(self, zero: int) -> ExecutionInput:
        """Each item with a whole ``startAfterSeconds`` stamped ``startAt`` = ``zero`` (epoch
        seconds: the run's arrival zero, shared by all its executions) plus that offset."""
        if arrival_span(self) is None:
            return self
        return ExecutionInput({**self.document, "items": _stamp(self.items, zero)}, self.origin)


def arrival_lead(items: int) -> int:
    """Seconds between an execution's start and its first arrival: time for the Map to start
    the children of ``items`` items (:data:`CHILD_STARTS_PER_SECOND`), 2 s at least, 30 at most."""
    needed = math.ceil(items / CHILD_STARTS_PER_SECOND)
    return min(ARRIVAL_LEAD_MAX_S, max(ARRIVAL_LEAD_S, needed))


def arrival_zero(now: float, items: int = 0) -> int:
    """When the arrivals of an execution of ``items`` items started at ``now`` begin: a whole
    second, :func:`arrival_lead` later (epoch seconds)."""
    return math.ceil(now + arrival_lead(items))


def item_offset(item: dict[str, Any]) -> int | None:
    """The item's whole ``startAfterSeconds`` >= 0, or None (no offset, or one the state machine
    will refuse: it then fails that item as it always did, unstamped)."""
    offset = item.get("startAfterSeconds")
    if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0:
        return offset
    return None


def _stamp(items: list[dict[str, Any]], zero: int) -> list[dict[str, Any]]:
    stamped = []
    for item in items:
        offset = item_offset(item)
        if offset is not None:
            at = datetime.fromtimestamp(zero + offset, UTC).strftime(_STAMP_FORMAT)
            item = {**item, "startAt": at}
        stamped.append(item)
    return stamped


def result_bytes(item_id: Any) -> int:
    """Upper bound of one item's entry in the execution output (with its separating comma)."""
    return _RESULT_BYTES_WITHOUT_ID + len(json.dumps(item_id, separators=(",", ":"))) + 1


def output_bytes(items: list[dict[str, Any]]) -> int:
    """Upper bound of the execution output for these items, all successful."""
    return _ENVELOPE_BYTES + sum(result_bytes(item.get("id")) for item in items)


def max_items(id_width: int = 5) -> int:
    """How many items with numeric ids of ``id_width`` digits fit the output limit."""
    return math.floor((PAYLOAD_LIMIT_BYTES - _ENVELOPE_BYTES) / result_bytes(10 ** (id_width - 1)))


def generate(count: int) -> ExecutionInput:
    """``{"items": [{"id": 1}, ... {"id": count}]}``, like sample-test-input.json."""
    if count < 1:
        raise RunnerError(f"--items {count}: give at least 1 item")
    document = {"items": [{"id": number} for number in range(1, count + 1)]}
    return validate(document, f"--items {count}")


def with_arrivals(
    offsets: Sequence[int], origin: str, duration_s: float | None = None
) -> ExecutionInput:
    """Items ``1..n`` that start ``offsets[i]`` whole seconds after their execution's arrival
    zero (Step Functions waits in whole seconds; :meth:`ExecutionInput.stamped` adds the absolute
    time at each start), each working ``duration_s`` if given (else the template's
    FunctionDurationSeconds)."""
    if not offsets:
        raise RunnerError(f"{origin} makes no calls: raise the rate or the span")
    latest = max(offsets)
    if min(offsets) < 0 or latest > RUN_SPAN_LIMIT_S:
        raise RunnerError(
            f"{origin}: the last call would arrive after {latest} s; one run replays at most "
            f"{RUN_SPAN_LIMIT_S} s (24 h): shorten the span"
        )
    extra = {} if duration_s is None else {"durationSeconds": duration_s}
    items = [
        {"id": number, "startAfterSeconds": int(offset), **extra}
        for number, offset in enumerate(offsets, start=1)
    ]
    return validate({"items": items}, origin)


def arrival_span(run_input: ExecutionInput) -> int | None:
    """The latest ``startAfterSeconds`` of the items, or None for a burst (no item waits)."""
    offsets = [offset for item in run_input.items if (offset := item_offset(item)) is not None]
    return max(offsets) if offsets else None


def arrival_problem(
    run_input: ExecutionInput, load_mode: str | None, max_concurrency: int | None
) -> str | None:
    """Why these items would not arrive on time with this Map, or None.

    A waiting item holds one of the Map's concurrent slots, so every item must be admitted at
    once: the inline Map (at most 40 at once) would start the later ones late, and so would a
    MaxConcurrency below the item count.
    """
    if arrival_span(run_input) is None:
        return None
    count = len(run_input.items)
    if load_mode == "INLINE":
        return (
            f"{count} items arrive over time (startAfterSeconds) but LoadMode=INLINE runs at "
            "most 40 at once and a waiting item holds a slot, so later items would start late"
        )
    if max_concurrency and max_concurrency < count:
        return (
            f"{count} items arrive over time (startAfterSeconds) but MapMaxConcurrency="
            f"{max_concurrency} admits fewer at once and a waiting item holds a slot"
        )
    return None


def load(path: Path) -> ExecutionInput:
    """Read and check an input file (one :class:`RunnerError` line per problem)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunnerError(
            f"input file {path} does not exist: give a file like sample-test-input.json, "
            "or use --items N"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise RunnerError(f"input file {path} cannot be read: {error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise RunnerError(
            f"input file {path} is not JSON ({error.msg} at line {error.lineno} column "
            f'{error.colno}): it must look like {{"items": [{{"id": 1}}, {{"id": 2}}]}}'
        ) from None
    return validate(document, str(path))


def validate(document: Any, origin: str) -> ExecutionInput:
    shape = 'it must look like {"items": [{"id": 1}, {"id": 2}]}'
    if not isinstance(document, dict) or "items" not in document:
        raise RunnerError(f'{origin} has no top-level "items" list: {shape}')
    items = document["items"]
    if not isinstance(items, list):
        raise RunnerError(f'{origin}: "items" is not a list: {shape}')
    if not items:
        raise RunnerError(f'{origin} has no items: "items" is empty; add at least one item')
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item:
            raise RunnerError(
                f'{origin}: item {index + 1} ({json.dumps(item)[:60]}) has no "id": '
                'every item needs one, e.g. {"id": 7}'
            )
        item_id = item["id"]
        if isinstance(item_id, (dict, list, bool)) or item_id is None:
            raise RunnerError(
                f"{origin}: item {index + 1} has id {json.dumps(item_id)[:40]}: use a number "
                "or a string"
            )
        if "startAt" in item:
            raise RunnerError(
                f"{origin}: item {index + 1} has startAt: pclab stamps startAt itself when it "
                "starts each execution (each state machine runs at its own time); give "
                "startAfterSeconds (whole seconds) instead"
            )
        key = json.dumps(item_id)
        if key in seen:
            raise RunnerError(
                f"{origin}: id {key} appears twice: item ids must be unique (the report joins "
                "calls by id)"
            )
        seen.add(key)
    # more items than one execution's 256 KiB of input or output hold run as several executions
    # (pclab/cloud/parts.py), so neither limit is checked here
    return ExecutionInput(document, origin)
