"""CloudFormation stacks and change sets: every patch of moto's CloudFormation is installed here.

What the patches add, and why moto needs them (see FACTS.md):

* the ``AWS::Serverless-2016-10-31`` transform (moto ignores it), on CreateStack, CreateChangeSet
  and UpdateStack: ``Stack._parse_template`` / ``ChangeSet._parse_template``;
* a change set that cannot be transformed ends FAILED with CloudFormation's reason, and an UPDATE
  change set on a stack whose creation failed is refused as on AWS
  (``CloudFormationBackend.create_change_set``);
* property validation against the CloudFormation resource schemas, and a failed create that rolls
  back to ROLLBACK_COMPLETE with the created resources removed
  (``parsing.parse_and_create_resource`` / ``parse_and_update_resource``,
  ``CloudFormationBackend.execute_change_set`` / ``create_stack`` / ``update_stack``; the
  events and rollback themselves are in :mod:`.cloudformation_events`);
* ListStackResources / DescribeStackResources leave out resources whose Condition is false
  (moto lists them as empty entries: ``CloudFormationBackend.list_stack_resources`` /
  ``describe_stack_resources``);
* stack outputs after a change set is executed (moto keeps the empty ones of the empty stack);
  "no changes" detected on the transformed template, and a change list that names only what a
  changed parameter touches (``Stack.has_template`` / ``has_parameters``, ``ChangeSet.diff``);
* parameter constraints (AllowedValues, AllowedPattern, Min/MaxValue, ...) on CreateChangeSet and
  CreateStack;
* our models (:mod:`.cloudformation_lambda`, :mod:`.cloudformation_stepfunctions`,
  :mod:`.cloudformation_apigateway`) replace or add to moto's in ``parsing.get_model_map`` (an
  lru_cache over ``CloudFormationModel.__subclasses__()``).

moto internals read, and why: ``Stack.parse_template`` (moto's YAML/JSON parser with
CloudFormation's tags, kept as moto's and called before the transform);
``moto.cloudformation.exceptions.ValidationError`` (CloudFormation's error response);
``moto.cloudformation.models.Change`` and ``parsing.get_references_from_template`` (the change
list); ``Stack._create_output_map``, ``CloudFormationBackend.stacks`` / ``change_sets`` /
``get_stack``; ``parsing.get_model_list`` / ``get_model_map`` / ``get_name_type_map``
``.cache_clear``.

Installed on first use (:func:`pclab.localcloud.moto.ensure_cloudformation`): importing moto's
CloudFormation costs about a second of start-up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pclab.localcloud.moto._patching import _installed, _patch
from pclab.localcloud.moto.cloudformation_apigateway import _make_api_gateway_models
from pclab.localcloud.moto.cloudformation_events import (
    _checked_resource_step,
    _finish_when_provisioned,
    _set_stack_failed,
)
from pclab.localcloud.moto.cloudformation_lambda import _make_lambda_models
from pclab.localcloud.moto.cloudformation_resources import ResourceFailed, _base_model
from pclab.localcloud.moto.cloudformation_stepfunctions import _make_state_machine_model
from pclab.localcloud.sam_transform import SamTransformError, apply_sam_transform


def _make_models() -> list[type]:
    """Our CloudFormation models: direct subclasses of CloudFormationModel, defined after moto's."""
    base = _base_model()
    return [
        *_make_lambda_models(base),
        _make_state_machine_model(base),
        *_make_api_gateway_models(base),
    ]


def _parse_template_text(
    text: str, parameters: dict[str, Any] | None, region: str
) -> dict[str, Any]:
    """YAML or JSON with CloudFormation tags (moto's parser), then the SAM transform."""
    import yaml
    from moto.cloudformation.exceptions import ValidationError

    original: Callable[[str], dict[str, Any]] = _installed["Stack.parse_template"]
    try:
        template = original(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise ValidationError(
            message=f"Template format error: YAML not well-formed. {str(error).splitlines()[0]}"
        ) from None
    if not isinstance(template, dict):
        raise ValidationError(message="Template format error: not a JSON or YAML object")
    return apply_sam_transform(template, parameters, region=region)


def check_parameters(template: dict[str, Any], values: dict[str, Any]) -> None:
    """CloudFormation's parameter constraints, which moto does not check, with AWS's wording."""
    from moto.cloudformation.exceptions import ValidationError

    for name, spec in (template.get("Parameters") or {}).items():
        if not isinstance(spec, dict):
            continue
        value = values.get(name, spec.get("Default"))
        if value is None:
            continue
        text = str(value)
        problem = _parameter_problem(name, text, spec)
        if problem is None:
            continue
        description = spec.get("ConstraintDescription")
        if description:
            problem = f"Parameter '{name}' failed to satisfy constraint: {description}"
        raise ValidationError(message=problem)


def _parameter_problem(name: str, text: str, spec: dict[str, Any]) -> str | None:
    import re

    kind = str(spec.get("Type", "String"))
    if "AllowedValues" in spec and text not in [str(v) for v in spec["AllowedValues"]]:
        return f"Parameter '{name}' must be one of AllowedValues"
    if kind == "Number":
        try:
            number = float(text)
        except ValueError:
            return f"Parameter '{name}' must be a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"Parameter '{name}' must be a number not less than {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}"
    pattern = spec.get("AllowedPattern")
    if pattern and kind == "String" and re.fullmatch(str(pattern), text) is None:
        return f"Parameter '{name}' must match pattern {pattern}"
    if "MinLength" in spec and len(text) < int(spec["MinLength"]):
        return f"Parameter '{name}' must contain at least {spec['MinLength']} characters"
    if "MaxLength" in spec and len(text) > int(spec["MaxLength"]):
        return f"Parameter '{name}' must contain at most {spec['MaxLength']} characters"
    return None


def _stack_call(original: Callable[..., Any], *, creating: bool) -> Callable[..., Any]:
    """CreateStack/UpdateStack: a failed resource rolls back; PC is waited for."""

    def call(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        if creating:  # CreateStack(name, template, parameters, ...): constraints first, as AWS
            template = args[0] if args else kwargs["template"]
            parameters = (args[1] if len(args) > 1 else kwargs.get("parameters")) or {}
            check_parameters(
                _parse_template_text(template, parameters, self.region_name), parameters
            )
        try:
            stack = original(self, name, *args, **kwargs)
        except ResourceFailed as error:
            stack = self.get_stack(name)
            reason = error.reason
            _set_stack_failed(
                stack, error.logical_id, error.resource_type, reason, creating=creating
            )
            return stack
        _finish_when_provisioned(stack, creating=creating)
        return stack

    return call


# Stack statuses of a stack whose creation failed: CloudFormation refuses to update one.
_NEVER_CREATED = frozenset({"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"})


def _install_cloudformation() -> None:
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import parsing
    from moto.cloudformation.exceptions import ValidationError

    Stack = cfn_models.Stack
    ChangeSet = cfn_models.ChangeSet
    Backend = cfn_models.CloudFormationBackend

    # --- templates: parse + SAM transform (Stack.parse_template is a staticmethod) ---
    _installed["Stack.parse_template"] = Stack.parse_template

    def stack_parse_template(self: Any) -> None:
        if isinstance(self.template, dict):
            self.template_dict = self.template
            return
        params = getattr(self, "parameters", None) or {}
        self.template_dict = _parse_template_text(
            self.template, params, self.region_name if hasattr(self, "region_name") else "us-east-1"
        )

    def change_set_parse_template(self: Any) -> None:
        self.template_dict = _parse_template_text(
            self.template, self.parameters, self.stack.region_name
        )

    _patch(Stack, "_parse_template", stack_parse_template)
    _patch(ChangeSet, "_parse_template", change_set_parse_template)

    # --- "no changes": compare transformed templates and parameter values as text ---
    def has_template(self: Any, other_template: str) -> bool:
        other = _parse_template_text(other_template, self.parameters, self.region_name)
        return bool(self.template_dict == other)

    def has_parameters(self: Any, other_parameters: dict[str, Any]) -> bool:
        def text(values: dict[str, Any]) -> dict[str, str]:
            return {
                k: ",".join(map(str, v)) if isinstance(v, list) else str(v)
                for k, v in values.items()
            }

        mine = {**self.stack_parameters, **(self.parameters or {})}
        return text(mine) == text({**self.stack_parameters, **other_parameters})

    _patch(Stack, "has_template", has_template)
    _patch(Stack, "has_parameters", has_parameters)

    # --- the change list: moto compares parameters by type, so every Ref looked changed ---
    def change_set_diff(self: Any) -> list[Any]:
        from moto.cloudformation.models import Change
        from moto.cloudformation.parsing import get_references_from_template

        resource_map = self.stack.resource_map
        old = resource_map._resource_json_map
        new = self.template_dict.get("Resources", {})
        before = {k: str(v) for k, v in resource_map.resolved_parameters.items()}
        changed = {k for k, v in (self.parameters or {}).items() if before.get(k) != str(v)}
        changes = [
            Change("Add", name, new[name].get("Type", "")) for name in new if name not in old
        ]
        for name in new:
            if name in old and (
                new[name] != old[name]
                or changed.intersection(get_references_from_template(new[name]))
            ):
                changes.append(Change("Modify", name, new[name].get("Type", "")))
        changes += [
            Change("Remove", name, old[name].get("Type", "")) for name in old if name not in new
        ]
        return changes

    _patch(ChangeSet, "diff", change_set_diff)

    # --- per-resource: validate properties, name the failing resource ---
    for name, verb in (
        ("parse_and_create_resource", "CREATE"),
        ("parse_and_update_resource", "UPDATE"),
    ):
        _patch(parsing, name, _checked_resource_step(getattr(parsing, name), verb))

    # --- CreateChangeSet: a template that cannot be transformed gives a FAILED change set ---
    original_create_change_set = Backend.create_change_set

    def create_change_set(
        self: Any,
        stack_name: str,
        change_set_name: str,
        template: str,
        parameters: dict[str, str],
        description: str,
        change_set_type: str,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[str, str]:
        if change_set_type == "CREATE":
            # A stack left in REVIEW_IN_PROGRESS by a failed change set is reused, as on AWS.
            for stack_id, stack in list(self.stacks.items()):
                if stack.name == stack_name and stack.status == "REVIEW_IN_PROGRESS":
                    del self.stacks[stack_id]
        else:
            # A stack whose creation failed has nothing to update: AWS refuses (moto would say
            # "No changes" and leave it empty), so the user deletes it and deploys afresh.
            for stack in self.stacks.values():
                if stack.name == stack_name and stack.status in _NEVER_CREATED:
                    raise ValidationError(
                        message=f"Stack:{stack.stack_id} is in {stack.status} state "
                        "and can not be updated."
                    )
        failure: str | None = None
        try:
            parsed = _parse_template_text(template, parameters, self.region_name)
            check_parameters(parsed, parameters)
        except SamTransformError as error:
            failure = str(error)
        # a template that cannot be transformed: moto records the change set of an empty one,
        # which is then marked FAILED with the reason
        given = template if failure is None else json.dumps({"Resources": {}})
        change_set_id, stack_id = original_create_change_set(
            self,
            stack_name,
            change_set_name,
            given,
            parameters,
            description,
            change_set_type,
            *args,
            **kwargs,
        )
        if failure is None:
            return change_set_id, stack_id
        change_set = self.change_sets[change_set_id]
        change_set.template = template
        change_set.status = "FAILED"
        change_set.execution_status = "UNAVAILABLE"
        change_set.status_reason = failure
        change_set.changes = []
        return change_set_id, stack_id

    _patch(Backend, "create_change_set", create_change_set)

    # --- ExecuteChangeSet: failure rolls back; outputs are computed; PC is waited for ---
    original_execute = Backend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name)
        if change_set is None:
            for candidate in self.change_sets.values():
                if candidate.change_set_name == change_set_name:
                    change_set = candidate
        if change_set is None or change_set.status != "CREATE_COMPLETE":
            return original_execute(self, change_set_name, stack_name)
        stack = self.stacks[change_set.stack_id]
        creating = change_set.change_set_type == "CREATE"
        try:
            original_execute(self, change_set_name, stack_name)
        except ResourceFailed as error:
            stack.template = change_set.template
            stack.template_dict = change_set.template_dict
            change_set.execution_status = "EXECUTE_FAILED"
            _set_stack_failed(
                stack, error.logical_id, error.resource_type, error.reason, creating=creating
            )
            return None
        stack.template_dict = change_set.template_dict
        stack.description = stack.template_dict.get("Description")
        if change_set.parameters:
            stack.parameters = change_set.parameters
        stack.output_map = stack._create_output_map()
        _finish_when_provisioned(stack, creating=creating)
        return None

    _patch(Backend, "execute_change_set", execute_change_set)

    # --- CreateStack / UpdateStack: same failure and PC handling as change sets ---
    for name, creating in (("create_stack", True), ("update_stack", False)):
        _patch(Backend, name, _stack_call(getattr(Backend, name), creating=creating))

    # --- a resource whose Condition is false is not in the stack (moto keeps a None for it,
    # listed as an entry with no logical ID, type or physical ID) ---
    for name in ("list_stack_resources", "describe_stack_resources"):
        _patch(Backend, name, _without_skipped(getattr(Backend, name)))

    # --- our models replace moto's for the same types ---
    _installed["models"] = _make_models()
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    # Fixed now, not at the first deploy: a moto module imported later (a service's first
    # request) must not change the supported types behind the documented list.
    parsing.get_model_map()


def _without_skipped(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's (stack, resources) answer without the Nones of false-Condition resources."""

    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        stack, resources = original(self, *args, **kwargs)
        return stack, [resource for resource in resources if resource is not None]

    return read
