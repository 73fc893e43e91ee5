"""CloudFormation models of ``AWS::Lambda::Function``, ``AWS::Lambda::Version`` and
``AWS::Lambda::Alias``, and what deploying them needs of moto's Lambda.

What they add to moto (see FACTS.md): ``AWS::Lambda::Function`` keeps TracingConfig and puts
reserved concurrency through our rules; ``AWS::Lambda::Version`` has the ``Version`` attribute and
provisioned concurrency; ``AWS::Lambda::Alias`` exists (moto has no model), with
``ProvisionedConcurrencyConfig``; and a function's pending update is applied before a new version
of it is published (moto creates added resources before it modifies changed ones).

moto internals read, and why:

* ``moto.awslambda.models.LambdaFunction.create_from_cloudformation_json`` /
  ``update_from_cloudformation_json``: moto's own function model does the work, ours adds to it;
* ``LambdaBackend.publish_version`` / ``create_alias`` / ``update_alias`` / ``delete_alias`` /
  ``delete_function`` (through :func:`.lambda_._lambda_backend`);
* for :func:`_bring_function_up_to_date`: ``moto.cloudformation.models.cloudformation_backends``
  ``[..].stacks``, ``ResourceMap._parsed_resources`` / ``_resource_json_map`` and
  ``moto.cloudformation.parsing.parse_resource``.

Nothing is patched here: the models are put in moto's model map by :mod:`.cloudformation_stacks`.
Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pclab.localcloud.invocation import LambdaServiceError
from pclab.localcloud.moto._patching import _control
from pclab.localcloud.moto.cloudformation_resources import _DeclaredModel, _OwnResource
from pclab.localcloud.moto.lambda_ import _lambda_backend
from pclab.localcloud.moto.lambda_snapstart import apply_snap_start

SNAPSHOT_WAIT_SECONDS = 900.0  # a SnapStart version's create waits for its init (Active)


def _function_name(value: str) -> str:
    """FunctionName may be a name or an ARN (CloudFormation accepts both)."""
    if value.startswith("arn:"):
        return value.split(":function:")[-1].split(":")[0]
    return value


def _pc_count(properties: dict[str, Any]) -> int | None:
    config = properties.get("ProvisionedConcurrencyConfig")
    if not config:
        return None
    return int(config["ProvisionedConcurrentExecutions"])


def _as_service_error(error: LambdaServiceError) -> Exception:
    return ValueError(
        f"{error.message} (Service: Lambda, Status Code: {error.status}, Error Code: {error.code})"
    )


@contextlib.contextmanager
def _lambda_errors_fail_resource(undo: Callable[[], Any] | None = None) -> Iterator[None]:
    """A Lambda API error fails the resource with CloudFormation's wording; ``undo`` first
    removes what the failed create already made (errors of the undo are ignored)."""
    try:
        yield
    except LambdaServiceError as error:
        if undo is not None:
            with contextlib.suppress(Exception):
                undo()
        raise _as_service_error(error) from None


@dataclass
class _VersionResource(_OwnResource):
    """A published version as a CloudFormation resource (Ref = version ARN)."""

    resource_type = "AWS::Lambda::Version"
    function_name: str
    version: str
    arn: str
    region: str

    @property
    def qualifier(self) -> str:
        return self.version

    def attributes(self) -> dict[str, str]:
        return {"Version": self.version, "FunctionArn": self.arn}


@dataclass
class _AliasResource(_OwnResource):
    """An alias as a CloudFormation resource (Ref = alias ARN)."""

    resource_type = "AWS::Lambda::Alias"
    function_name: str
    name: str
    arn: str
    region: str

    @property
    def qualifier(self) -> str:
        return self.name

    def attributes(self) -> dict[str, str]:
        return {"AliasArn": self.arn}

    def delete(self, account_id: str, region: str) -> None:
        _control().alias_deleted(region, self.function_name, self.name)
        with contextlib.suppress(Exception):  # the function (and its aliases) may be gone already
            _lambda_backend(account_id, region).delete_alias(self.name, self.function_name)


def _make_lambda_models(base: type) -> list[type]:
    """Our Lambda models: direct subclasses of ``base`` (CloudFormationModel), made after moto's."""

    class CfnLambdaFunction(_DeclaredModel, base):  # type: ignore[misc]
        """``AWS::Lambda::Function``: moto's model plus TracingConfig and our concurrency rules."""

        @staticmethod
        def cloudformation_name_type() -> str:
            return "FunctionName"

        CFN_TYPE = "AWS::Lambda::Function"
        CFN_ATTRIBUTES = ("Arn",)

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            from moto.awslambda.models import LambdaFunction

            applied = copy.deepcopy(cloudformation_json["Properties"])
            properties = cloudformation_json["Properties"]
            reserved = properties.pop("ReservedConcurrentExecutions", None)
            fn = LambdaFunction.create_from_cloudformation_json(
                resource_name, cloudformation_json, account_id, region_name, **kwargs
            )
            _apply_function_extras(fn, properties, reserved, region_name)
            fn.pclab_applied_properties = applied  # type: ignore[attr-defined]
            return fn

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> Any:
            from moto.awslambda.models import LambdaFunction

            applied = copy.deepcopy(cloudformation_json["Properties"])
            if getattr(original_resource, "pclab_applied_properties", None) == applied:
                return original_resource  # already applied (see _bring_function_up_to_date)
            properties = cloudformation_json["Properties"]
            reserved = properties.pop("ReservedConcurrentExecutions", None)
            fn = LambdaFunction.update_from_cloudformation_json(
                original_resource, new_resource_name, cloudformation_json, account_id, region_name
            )
            _apply_function_extras(fn, properties, reserved, region_name, updating=True)
            fn.pclab_applied_properties = applied  # type: ignore[attr-defined]
            return fn

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            with contextlib.suppress(Exception):
                _lambda_backend(account_id, region_name).delete_function(resource_name)

    class CfnLambdaVersion(_DeclaredModel, base):  # type: ignore[misc]
        """``AWS::Lambda::Version``: publish, with the ``Version`` attribute and optional PC."""

        CFN_TYPE = "AWS::Lambda::Version"
        CFN_ATTRIBUTES = ("Version", "FunctionArn")

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            properties = cloudformation_json["Properties"]
            name = _function_name(properties["FunctionName"])
            _bring_function_up_to_date(kwargs.get("StackId"), name, account_id, region_name)
            backend = _lambda_backend(account_id, region_name)
            fn = backend.publish_version(name, properties.get("Description", ""))
            version = str(fn.version)
            resource = _VersionResource(name, version, fn.function_arn, region_name)
            snapshot = _control().wait_snapshot(region_name, name, version, SNAPSHOT_WAIT_SECONDS)
            if snapshot is not None and snapshot[0] != "Active":
                raise ValueError(f"Version {version} of {name} is {snapshot[0]}: {snapshot[1]}")
            count = _pc_count(properties)
            if count is not None:
                with _lambda_errors_fail_resource():
                    _control().put_provisioned_concurrency(region_name, name, version, count)
            return resource

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> Any:
            # Versions are immutable: CloudFormation replaces them.
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            # SAM marks its versions Retain: CloudFormation keeps them when an update replaces
            # them (moto's ResourceMap.update would delete them, and the next publish would
            # reuse the number). They go when their function is deleted.
            if cloudformation_json.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate"):
                return
            # resource_name is the version ARN (physical id)
            name = _function_name(resource_name)
            version = resource_name.rsplit(":", 1)[-1]
            with contextlib.suppress(Exception):
                _lambda_backend(account_id, region_name).delete_function(name, version)

    class CfnLambdaAlias(_DeclaredModel, base):  # type: ignore[misc]
        """``AWS::Lambda::Alias`` (moto has no model), with ``ProvisionedConcurrencyConfig``."""

        CFN_TYPE = "AWS::Lambda::Alias"
        CFN_ATTRIBUTES = ("AliasArn",)

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            properties = cloudformation_json["Properties"]
            name = _function_name(properties["FunctionName"])
            alias = properties["Name"]
            backend = _lambda_backend(account_id, region_name)
            created = backend.create_alias(
                name=alias,
                function_name=name,
                function_version=str(properties["FunctionVersion"]),
                description=properties.get("Description", ""),
                routing_config=properties.get("RoutingConfig"),
            )
            resource = _AliasResource(name, alias, created.arn, region_name)
            count = _pc_count(properties)
            if count is not None:
                with _lambda_errors_fail_resource(lambda: backend.delete_alias(alias, name)):
                    _control().put_provisioned_concurrency(region_name, name, alias, count)
            return resource

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> Any:
            properties = cloudformation_json["Properties"]
            name = _function_name(properties["FunctionName"])
            alias = properties["Name"]
            if (name, alias) != (original_resource.function_name, original_resource.name):
                original_resource.delete(account_id, region_name)
                return cls.create_from_cloudformation_json(
                    new_resource_name, cloudformation_json, account_id, region_name
                )
            backend = _lambda_backend(account_id, region_name)
            backend.update_alias(
                name=alias,
                function_name=name,
                function_version=str(properties["FunctionVersion"]),
                description=properties.get("Description", ""),
                routing_config=properties.get("RoutingConfig"),
            )
            control = _control()
            count = _pc_count(properties)
            with _lambda_errors_fail_resource():
                if count is None:
                    control.alias_deleted(region_name, name, alias)
                else:
                    current = control.provisioned_status(region_name, name, alias)
                    existing = (
                        control.get_provisioned_concurrency(region_name, name, alias)
                        if current is not None
                        else None
                    )
                    if (
                        existing is None
                        or existing["RequestedProvisionedConcurrentExecutions"] != count
                    ):
                        control.put_provisioned_concurrency(region_name, name, alias, count)
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            name = _function_name(resource_name)
            alias = resource_name.rsplit(":", 1)[-1]
            _AliasResource(name, alias, resource_name, region_name).delete(account_id, region_name)

    return [CfnLambdaFunction, CfnLambdaVersion, CfnLambdaAlias]


def _bring_function_up_to_date(
    stack_id: str | None, function_name: str, account_id: str, region: str
) -> None:
    """Apply a pending update of the function before publishing a version of it.

    CloudFormation orders an update by dependencies: a new ``AWS::Lambda::Version`` (SAM adds one
    per code change) is published after its function got the new code. moto's
    ``ResourceMap.update`` creates added resources before it modifies changed ones, which would
    publish the old code. Relies on ``cloudformation_backends[..].stacks``,
    ``ResourceMap._parsed_resources`` / ``_resource_json_map`` and ``parsing.parse_resource``.
    """
    if not stack_id:
        return
    from moto.awslambda.models import LambdaFunction
    from moto.cloudformation.models import cloudformation_backends
    from moto.cloudformation.parsing import parse_resource

    stack = cloudformation_backends[account_id][region].stacks.get(stack_id)
    if stack is None:
        return
    resource_map = stack.resource_map
    for logical_id, resource in list(resource_map._parsed_resources.items()):
        if not isinstance(resource, LambdaFunction) or resource.function_name != function_name:
            continue
        resource_json = resource_map._resource_json_map.get(logical_id)
        if resource_json is None:
            return
        parsed = parse_resource(copy.deepcopy(resource_json), resource_map)
        if parsed is None:
            return
        model, cleaned, _ = parsed
        if getattr(resource, "pclab_applied_properties", None) != cleaned["Properties"]:
            model.update_from_cloudformation_json(
                resource, function_name, cleaned, account_id, region
            )
        return


def _apply_function_extras(
    fn: Any, properties: dict[str, Any], reserved: Any, region: str, *, updating: bool = False
) -> None:
    """What moto's Function model drops: TracingConfig, SnapStart, and reserved concurrency under
    our rules."""
    tracing = properties.get("TracingConfig")
    fn.tracing_config = tracing or {"Mode": "PassThrough"}
    control = _control()

    def undo_create() -> None:
        _lambda_backend(fn.account_id, region).delete_function(fn.function_name)

    try:
        apply_snap_start(fn, properties.get("SnapStart"))
    except ValueError as error:  # CREATE_FAILED with AWS's words, nothing left behind
        if not updating:
            with contextlib.suppress(Exception):
                undo_create()
        raise ValueError(
            f"{error} (Service: Lambda, Status Code: 400, Error Code: "
            "InvalidParameterValueException)"
        ) from None

    with _lambda_errors_fail_resource(None if updating else undo_create):
        if reserved is not None:
            control.put_function_concurrency(region, fn.function_name, reserved)
        elif updating and control.get_function_concurrency(region, fn.function_name) is not None:
            control.delete_function_concurrency(region, fn.function_name)
