"""CloudFormation stack progress: resource events, failure and rollback, waiting for PC.

What moto lacks and this adds (see FACTS.md): per-resource stack events (moto records only the
stack's own; ``sam deploy`` prints them); a resource that fails is named, and a failed create rolls
back to ROLLBACK_COMPLETE with the created resources removed; an alias or version with provisioned
concurrency (and the stack) stays ``*_IN_PROGRESS`` until its pool is READY, as on AWS, so
``sam deploy`` returns when the environments are initialised. :mod:`.cloudformation_stacks` wires
these into moto's stack operations.

moto internals read, and why:

* ``moto.cloudformation.models.cloudformation_backends[account][region].stacks``: the stack a
  ResourceMap (``_account_id``, ``_region_name``, ``stack_id``) belongs to;
* ``moto.cloudformation.models.Event`` and ``Stack.events`` / ``status`` / ``status_reason`` /
  ``output_map`` / ``region_name`` / ``_add_stack_event``: events and status as
  DescribeStackEvents and DescribeStacks show them;
* ``Stack.resource_map`` with ``ResourceMap.delete``, ``_delete_resource``, ``_parsed_resources``
  and ``_resource_json_map``: rollback, and the stack's PC resources;
* ``ResourceMap.lazy_condition_map``: a resource whose Condition is false is not created, so its
  type need not be supported.

Nothing is patched here. Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pclab.localcloud.moto._patching import _control
from pclab.localcloud.moto.cloudformation_lambda import _AliasResource, _VersionResource
from pclab.localcloud.moto.cloudformation_resources import (
    ResourceFailed,
    _error_text,
    _validate_properties,
    check_supported,
)

PC_READY_TIMEOUT_SECONDS = float(os.environ.get("PCLAB_PC_READY_TIMEOUT", "900"))


def _set_stack_failed(
    stack: Any, logical_id: str, resource_type: str, reason: str, *, creating: bool
) -> None:
    """CloudFormation's failure path: resource *_FAILED, roll back, stack ROLLBACK_COMPLETE."""
    verb = "CREATE" if creating else "UPDATE"
    _stack_event(stack, logical_id, resource_type, f"{verb}_FAILED", "", reason=reason)
    if creating:
        stack._add_stack_event(
            "ROLLBACK_IN_PROGRESS",
            resource_status_reason=(
                f"The following resource(s) failed to create: [{logical_id}]. "
                "Rollback requested by user."
            ),
        )
        with contextlib.suppress(Exception):
            stack.resource_map.delete()
        _drop_leftovers(stack)
        stack._add_stack_event("ROLLBACK_COMPLETE")
        stack.status = "ROLLBACK_COMPLETE"
    else:
        # Known gap: an update is not undone resource by resource; the stack says it failed.
        stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
        stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        stack.status = "UPDATE_ROLLBACK_COMPLETE"
    stack.status_reason = reason


def _drop_leftovers(stack: Any) -> None:
    """Remove what a failed create left behind, Retain or not (it never completed)."""
    for logical_id, resource in list(stack.resource_map._parsed_resources.items()):
        if isinstance(resource, str) or resource is None or logical_id.startswith("AWS::"):
            continue
        resource_json = stack.resource_map._resource_json_map.get(logical_id)
        if resource_json is None:
            continue
        with contextlib.suppress(Exception):
            stack.resource_map._delete_resource(resource, resource_json)
        stack.resource_map._parsed_resources.pop(logical_id, None)
    # ResourceMap creates a resource when it is looked up: with the template's resources still
    # listed, DescribeStackResources would bring the rolled-back resources back to life.
    stack.resource_map._resource_json_map = {}
    # nor outputs that name them (a stack that rolled back has none)
    stack.output_map = type(stack.output_map)(stack.resource_map, {}, stack.stack_id)


@dataclass(frozen=True)
class _PcResource:
    logical_id: str
    resource_type: str
    physical_id: str
    function_name: str
    qualifier: str


def _pc_resources(stack: Any) -> list[_PcResource]:
    """The stack's aliases and versions that have a provisioned-concurrency config."""
    found = [
        _PcResource(
            logical_id,
            resource.resource_type,
            resource.arn,
            resource.function_name,
            resource.qualifier,
        )
        for logical_id, resource in list(stack.resource_map._parsed_resources.items())
        if isinstance(resource, (_AliasResource, _VersionResource))
    ]
    control = _control()
    return [
        r for r in found if control.has_provisioned(stack.region_name, r.function_name, r.qualifier)
    ]


def _take_complete_event(stack: Any, logical_id: str, status: str) -> None:
    """Withdraw the latest ``status`` event of ``logical_id``: it is announced when it is true."""
    for index in range(len(stack.events) - 1, -1, -1):
        event = stack.events[index]
        if event.logical_resource_id == logical_id and event.resource_status == status:
            del stack.events[index]
            return


def _finish_when_provisioned(stack: Any, *, creating: bool) -> None:
    """Like CloudFormation, keep the stack *_IN_PROGRESS until every PC pool is READY.

    The alias (or version) with provisioned concurrency is complete when its pool is READY, and
    the stack after it. The API call that started the work returns at once (as on AWS);
    ``sam deploy`` follows the events and returns when the environments are initialised.
    """
    verb = "CREATE" if creating else "UPDATE"
    pending = _pc_resources(stack)
    control = _control()
    if not pending:
        return
    # The status is asked of the execution layer in the background: allocating, it may take a
    # moment to answer, and ExecuteChangeSet must return at once as on AWS.
    stack.status = f"{verb}_IN_PROGRESS"
    # moto already announced the stack complete; SAM CLI stops streaming events at that event and
    # then polls DescribeStacks only every 30 s. Announce it when it is true instead.
    _take_complete_event(stack, stack.name, f"{verb}_COMPLETE")
    for resource in pending:
        _take_complete_event(stack, resource.logical_id, f"{verb}_COMPLETE")

    def wait() -> None:
        targets = [(r.function_name, r.qualifier) for r in pending]
        ok, reason = control.wait_provisioned(stack.region_name, targets, PC_READY_TIMEOUT_SECONDS)
        if ok:
            for resource in pending:
                _stack_event(
                    stack,
                    resource.logical_id,
                    resource.resource_type,
                    f"{verb}_COMPLETE",
                    resource.physical_id,
                )
            stack._add_stack_event(f"{verb}_COMPLETE")
            stack.status = f"{verb}_COMPLETE"
        else:
            first = pending[0]
            _set_stack_failed(
                stack, first.logical_id, first.resource_type, reason or "failed", creating=creating
            )

    threading.Thread(target=wait, name=f"pc-wait-{stack.name}", daemon=True).start()


def _checked_resource_step(original: Callable[..., Any], verb: str) -> Callable[..., Any]:
    """Wrap moto's create/update of one resource: a type the local cloud cannot create and the
    schema check first, failures named, and the resource's own events (moto records only the
    stack's), which `sam deploy` prints."""

    def step(
        logical_id: str,
        resource_json: dict[str, Any],
        resources_map: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        resource_type = str(resource_json.get("Type"))
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            # Not in the stack (AWS shows no event for it). moto skips it on create but would
            # update it, with references to resources that do not exist.
            return None
        check_supported(logical_id, resource_type)
        _validate_properties(logical_id, resource_json)
        _resource_event(resources_map, logical_id, resource_type, f"{verb}_IN_PROGRESS", "")
        try:
            resource = original(logical_id, resource_json, resources_map, account_id, region_name)
        except ResourceFailed:
            raise
        except Exception as error:
            raise ResourceFailed(logical_id, resource_type, _error_text(error)) from error
        physical = str(getattr(resource, "physical_resource_id", "") or "")
        _resource_event(resources_map, logical_id, resource_type, f"{verb}_COMPLETE", physical)
        return resource

    return step


def _resource_event(
    resources_map: Any, logical_id: str, resource_type: str, status: str, physical_id: str
) -> None:
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[resources_map._account_id][resources_map._region_name]
    stack = backend.stacks.get(resources_map.stack_id)
    if stack is not None:
        _stack_event(stack, logical_id, resource_type, status, physical_id)


def _stack_event(
    stack: Any,
    logical_id: str,
    resource_type: str,
    status: str,
    physical_id: str,
    *,
    reason: str | None = None,
) -> None:
    from moto.cloudformation.models import Event

    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id,
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )
