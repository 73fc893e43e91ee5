"""Adapter for the state machine's execution output: the handler's own view of every call.

The state machine returns ``{"results": [...]}`` with one small entry per item (short keys, see
COMMON.md): ``{"id","req","env","first","initType","initMs","start","end","ver"}`` on success,
``{"id","error":{"Error","Cause"}}`` when the item failed for good. Entries carrying the handler's
full result (``requestId``, ``environmentId``, ...) are read too, so a state machine without the
short-key ResultSelector still works.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pclab.analysis.model import (
    Invocation,
    Source,
    SourceFormatError,
    item_key,
)
from pclab.analysis.perf import without_gc
from pclab.analysis.sources._common import (
    as_bool,
    as_float,
    as_mapping,
    as_str,
    epoch_seconds,
    error_request_id,
    is_mapping,
    load_json_text,
)

# short key -> handler result key (COMMON.md "Handler result")
_LONG = {
    "req": "requestId",
    "env": "environmentId",
    "first": "firstInvocation",
    "initType": "initializationType",
    "initMs": "initDurationMs",
    "start": "startedAt",
    "end": "finishedAt",
    "ver": "functionVersion",
}


def _get(entry: Mapping[str, Any], short: str) -> Any:
    value = entry.get(short)
    if value is None:
        value = entry.get(_LONG[short])
    return value


def _results(document: Any) -> list[Any]:
    if isinstance(document, (str, bytes)):
        document = load_json_text(document, "execution output")
    if is_mapping(document) and "results" not in document and "output" in document:
        # a whole DescribeExecution reply: the output is a JSON string inside it
        output = document.get("output")
        if output is None:
            status = document.get("status", "unknown")
            raise SourceFormatError(f"the execution has no output (status {status})")
        document = (
            load_json_text(output, "the execution's output")
            if isinstance(output, (str, bytes))
            else output
        )
    if isinstance(document, list):
        return document
    if not is_mapping(document) or not isinstance(document.get("results"), list):
        raise SourceFormatError(
            'expected the execution output {"results": [...]} (or a DescribeExecution reply)'
        )
    results: list[Any] = document["results"]
    return results


def apply_handler_result(inv: Invocation, entry: Mapping[str, Any]) -> None:
    """Fill ``inv`` from a handler result in short-key or full form (also used by the history
    adapter, whose TaskSucceeded output carries the full result as ``Payload``)."""
    inv.request_id = as_str(_get(entry, "req"))
    inv.environment_id = as_str(_get(entry, "env"))
    inv.first_invocation = as_bool(_get(entry, "first"))
    inv.init_type = as_str(_get(entry, "initType"))
    inv.handler_start = epoch_seconds(_get(entry, "start"))
    inv.handler_end = epoch_seconds(_get(entry, "end"))
    inv.function_version = as_str(_get(entry, "ver"))
    # The handler reports its environment's init on every call; the record keeps it only for
    # the environment's first call, as a REPORT line would, so later calls are not read as
    # cold.
    if inv.first_invocation:
        inv.init_duration_ms = as_float(_get(entry, "initMs"))
        inv.init_start = epoch_seconds(entry.get("initStartedAt"))
        inv.init_end = epoch_seconds(entry.get("initEndedAt"))
        since_init_end_ms = as_float(entry.get("sinceInitEndMs"))
        if inv.init_end is None and since_init_end_ms is not None and inv.handler_start:
            inv.init_end = inv.handler_start - since_init_end_ms / 1000.0
    item = as_mapping(entry.get("item"))
    if inv.item_id is None and item is not None:
        inv.item_id = item_key(item.get("id"))


@without_gc
def parse_execution_output(
    document: Any,
    *,
    state_machine: str | None = None,
    execution: str | None = None,
    function_name: str | None = None,
    qualifier: str | None = None,
) -> list[Invocation]:
    """One :class:`Invocation` per entry of the execution output, in item order.

    ``document`` is the parsed output, its JSON text, or a whole DescribeExecution reply.
    The keyword arguments label the records (the output itself names none of them).
    """
    if is_mapping(document):
        # a whole DescribeExecution reply names its run: a failed item, which has no request id
        # to join on, then still belongs to the right run (pclab analyze on saved files)
        if state_machine is None:
            state_machine = as_str(document.get("stateMachineArn"))
            state_machine = state_machine.rsplit(":", 1)[-1] if state_machine else None
        if execution is None:
            execution = as_str(document.get("executionArn"))
    invocations: list[Invocation] = []
    for index, entry in enumerate(_results(document)):
        if not is_mapping(entry):
            raise SourceFormatError(f"results[{index}] is not an object")
        raw_id = entry.get("id")
        item = as_mapping(entry.get("item"))
        if raw_id is None and item is not None:
            raw_id = item.get("id")
        inv = Invocation(
            item_id=item_key(raw_id),
            state_machine=state_machine,
            execution=execution,
            iteration=index,
            function_name=function_name or as_str(entry.get("functionName")),
            qualifier=qualifier,
            sources={Source.EXECUTION_OUTPUT},
        )
        error = as_mapping(entry.get("error"))
        if error is not None:
            inv.error = as_str(error.get("Error")) or "Error"
            inv.error_cause = as_str(error.get("Cause"))
            inv.request_id = error_request_id(error.get("Cause"))
            invocations.append(inv)
            continue
        apply_handler_result(inv, entry)
        invocations.append(inv)
    return invocations
