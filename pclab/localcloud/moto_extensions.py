"""Every change we make to moto, behind one seam: :func:`install`.

This is the only module that touches moto internals (moto is pinned in pyproject.toml for that
reason). Each patch names the moto internal it relies on;
``tests/localcloud/test_moto_extensions.py`` asserts that each of them still exists with the shape
we expect, so a moto upgrade that moves one fails loudly there instead of quietly breaking a deploy.

What the patches add, and why moto needs them (see FACTS.md):

* CloudFormation
  - the ``AWS::Serverless-2016-10-31`` transform (moto ignores it), on CreateStack, CreateChangeSet
    and UpdateStack: ``Stack._parse_template`` / ``ChangeSet._parse_template``;
  - a change set that cannot be transformed ends FAILED with CloudFormation's reason, and an
    UPDATE change set on a stack whose creation failed is refused as on AWS
    (``CloudFormationBackend.create_change_set``);
  - property validation against the CloudFormation resource schemas, and a failed create that rolls
    back to ROLLBACK_COMPLETE with the created resources removed
    (``parsing.parse_and_create_resource``, ``CloudFormationBackend.execute_change_set`` /
    ``create_stack``);
  - stack outputs after a change set is executed (moto keeps the empty ones of the empty stack);
    "no changes" detected on the transformed template, and a change list that names only what a
    changed parameter touches (``Stack.has_template`` / ``has_parameters``, ``ChangeSet.diff``);
  - parameter constraints (AllowedValues, AllowedPattern, Min/MaxValue, ...) on CreateChangeSet
    and CreateStack; per-resource stack events, which `sam deploy` prints;
  - an alias or version with provisioned concurrency (and the stack) stays ``*_IN_PROGRESS`` until
    its pool is READY, as on AWS, so ``sam deploy`` returns when the environments are initialised;
  - a function's pending update is applied before a new version of it is published (moto creates
    added resources before it modifies changed ones);
  - models for ``AWS::Lambda::Function`` (TracingConfig, reserved concurrency through our rules),
    ``AWS::Lambda::Version`` (``Version`` attribute, PC), ``AWS::Lambda::Alias`` (moto has none;
    with ``ProvisionedConcurrencyConfig``) and ``AWS::StepFunctions::StateMachine``
    (``DefinitionS3Location``, ``Definition``, ``DefinitionSubstitutions``,
    ``TracingConfiguration``, created in the *executing* Step Functions backend). They replace
    moto's models in ``parsing.get_model_map`` (an lru_cache over
    ``CloudFormationModel.__subclasses__()``).
* Lambda: ``LambdaBackend.delete_function`` / ``delete_alias`` / ``update_alias`` tell the
  control plane, so provisioned pools and reservations go with what they belong to.

Patches are process-wide; each dispatches to moto's original when no local cloud runs in the
process (:func:`deactivate`). The CloudFormation ones are installed on first use
(:func:`ensure_cloudformation`): importing moto's CloudFormation costs about a second of start-up.
* Step Functions
  - the interpreter's Lambda task (``lambda_eval_utils._invoke_lambda_function``) goes through
    the invocation seam instead of a boto3 client; ``execute_lambda_function_integration`` is
    wrapped only to know which execution (and so which trace) the task belongs to;
  - StartExecution passes ``traceHeader`` and, for a traced state machine, starts a trace;
    DescribeExecution returns ``traceHeader`` (moto 5.2.5 drops both); the execution is recorded
    as an ``AWS::StepFunctions::StateMachine`` segment of that trace when it ends;
  - an inline Map runs at most 40 iterations at once, as on AWS (moto runs MaxConcurrency
    workers, or one per item for 0): ``InlineIterationComponent._eval_body``;
  - a Distributed Map's ``"ExecutionType": "EXPRESS"`` is accepted (moto's ASL grammar knows
    only STANDARD; its interpreter runs both alike): ``AmazonStateLanguageParser.parse``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from pclab.localcloud.invocation import FunctionSpec, LambdaServiceError
from pclab.localcloud.lambda_control import LambdaControlPlane
from pclab.localcloud.sam_transform import SamTransformError, apply_sam_transform

LOG = logging.getLogger("pclab.localcloud")

ACCOUNT_ID = "123456789012"  # moto's default account: every request without other credentials
PC_READY_TIMEOUT_SECONDS = float(os.environ.get("PCLAB_PC_READY_TIMEOUT", "900"))

_installed: dict[str, Any] = {}
_install_lock = threading.RLock()

# Every moto attribute we replace, as (owner, attribute name), and moto's own version of it:
# tests/localcloud/test_moto_extensions.py checks each against the shape we rely on.
PATCHED: list[tuple[str, str]] = []
ORIGINALS: dict[tuple[str, str], Any] = {}


def _dispatcher(original: Callable[..., Any], replacement: Callable[..., Any]) -> Any:
    """Ours while a local cloud runs in this process, moto's own otherwise.

    Patches are process-wide and cannot be taken back safely while moto is serving; this keeps
    other in-process moto users (e.g. ``mock_aws`` in tests) on moto's behaviour once the local
    cloud has stopped.
    """

    def dispatch(*args: Any, **kwargs: Any) -> Any:
        chosen = replacement if _installed.get("active") else original
        return chosen(*args, **kwargs)

    dispatch.__name__ = getattr(replacement, "__name__", "dispatch")
    dispatch.__doc__ = replacement.__doc__
    return dispatch


def _patch(owner: Any, name: str, replacement: Any) -> Any:
    """Replace ``owner.name`` and return the original (AttributeError at once if moto moved it)."""
    original = getattr(owner, name)
    setattr(owner, name, _dispatcher(original, replacement))
    label = (
        f"{owner.__module__}.{owner.__qualname__}" if isinstance(owner, type) else owner.__name__
    )
    PATCHED.append((label, name))
    ORIGINALS[(label, name)] = original
    return original


def _control() -> LambdaControlPlane:
    plane: LambdaControlPlane = _installed["control_plane"]
    return plane


# =============================================================== moto's Lambda state, read-only
class MotoFunctionDirectory:
    """The control plane's view of moto's Lambda functions, versions and aliases.

    Relies on ``moto.awslambda.models.lambda_backends[account][region]._lambdas`` (a LambdaStorage:
    ``_functions[name] = {"latest": LambdaFunction, "versions": [...]}``, ``_aliases[arn]``).
    """

    def __init__(self, account_id: str = ACCOUNT_ID) -> None:
        self.account_id = account_id

    def _storage(self, region: str) -> Any:
        return _lambda_backend(self.account_id, region)._lambdas

    def _spec(self, fn: Any, version: str) -> FunctionSpec:
        code: bytes = getattr(fn, "code_bytes", b"") or b""
        env = {str(k): str(v) for k, v in (fn.environment_vars or {}).items()}
        arn = f"arn:aws:lambda:{fn.region}:{fn.account_id}:function:{fn.function_name}"
        return FunctionSpec(
            function_name=fn.function_name,
            function_arn=arn,
            version=version,
            handler=fn.handler or "",
            runtime=fn.run_time or "",
            memory_mb=int(fn.memory_size),
            timeout_seconds=int(fn.timeout),
            environment=env,
            code_sha256=getattr(fn, "code_sha_256", "") or hashlib.sha256(code).hexdigest(),
            code_zip=code,
            tracing_active=(fn.tracing_config or {}).get("Mode") == "Active",
            region=fn.region,
            account_id=fn.account_id,
        )

    def latest(self, region: str, name: str) -> FunctionSpec | None:
        group = self._storage(region)._functions.get(name)
        if not group or group.get("latest") is None:
            return None
        return self._spec(group["latest"], "$LATEST")

    def version(self, region: str, name: str, version: str) -> FunctionSpec | None:
        group = self._storage(region)._functions.get(name)
        if not group:
            return None
        for fn in group["versions"]:
            if str(fn.version) == version:
                return self._spec(fn, version)
        return None

    def aliases(self, region: str, name: str) -> dict[str, str]:
        storage = self._storage(region)
        if name not in storage._functions:
            return {}
        arn = f"arn:aws:lambda:{region}:{self.account_id}:function:{name}"
        return {
            alias: str(a.function_version) for alias, a in storage._aliases.get(arn, {}).items()
        }

    def function_names(self, region: str) -> list[str]:
        return list(self._storage(region)._functions)

    def mirror_reserved(self, region: str, name: str, reserved: int | None) -> None:
        group = self._storage(region)._functions.get(name)
        if group and group.get("latest") is not None:
            group["latest"].reserved_concurrency = reserved


# =============================================================== telemetry into moto's backends
class MotoTelemetrySink:
    """TelemetrySink over moto's X-Ray and CloudWatch Logs backends (in-process, no HTTP).

    Relies on ``XRayBackend.process_segment(doc)`` and ``LogsBackend.create_log_group`` /
    ``create_log_stream`` / ``put_log_events``; one lock keeps appends to a stream ordered.
    """

    def __init__(self, account_id: str = ACCOUNT_ID, region: str = "us-east-1") -> None:
        self.account_id = account_id
        self.region = region
        self._lock = threading.Lock()

    def put_trace_segments(self, documents: list[str]) -> None:
        from moto.xray.models import xray_backends

        backend = xray_backends[self.account_id][self.region]
        with self._lock:
            for document in documents:
                try:
                    backend.process_segment(document)
                except Exception as error:  # one bad document must not lose the others
                    LOG.warning("X-Ray segment rejected: %s", error)

    def put_log_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        from moto.logs.models import logs_backends

        if not events:
            return
        backend = logs_backends[self.account_id][self.region]
        with self._lock:
            if group not in backend.groups:
                backend.create_log_group(group, {})
            if stream not in backend.groups[group].streams:
                backend.create_log_stream(group, stream)
            ordered = sorted(events, key=lambda e: e[0])
            backend.put_log_events(
                group, stream, [{"timestamp": ts, "message": msg} for ts, msg in ordered]
            )


# =============================================================== CloudFormation: resource schemas
@cache
def _resource_schema_properties(resource_type: str) -> frozenset[str] | None:
    """Property names CloudFormation accepts for a type, from cfn-lint's copy of AWS's schemas.

    None when no schema is at hand (then nothing is checked rather than guessing).
    """
    import importlib.util

    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        return None
    # cfn-lint keeps one index per region (type -> schema hash) and the schemas by hash
    schemas = Path(next(iter(spec.submodule_search_locations))) / "data" / "schemas"
    index = _schema_index(schemas / "providers" / "us-east-1.json")
    digest = index.get(resource_type)
    if digest is None:
        return None
    path = schemas / "resources" / f"{digest}.json"
    if not path.exists():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    return frozenset(schema.get("properties", {}))


@cache
def _schema_index(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    index: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return index


class ResourceFailed(Exception):
    """One resource could not be created: CloudFormation reports it as CREATE_FAILED."""

    def __init__(self, logical_id: str, resource_type: str, reason: str) -> None:
        super().__init__(f"{logical_id}: {reason}")
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason


def _validate_properties(logical_id: str, resource_json: dict[str, Any]) -> None:
    resource_type = str(resource_json.get("Type", ""))
    allowed = _resource_schema_properties(resource_type)
    properties = resource_json.get("Properties") or {}
    if allowed is None or not isinstance(properties, dict):
        return
    extra = sorted(set(properties) - allowed)
    if extra:
        raise ResourceFailed(
            logical_id,
            resource_type,
            f"Properties validation failed for resource {logical_id} with message: "
            f"#: extraneous key [{extra[0]}] is not permitted",
        )


def _error_text(error: BaseException) -> str:
    message = getattr(error, "message", None) or getattr(error, "description", None)
    return str(message or error) or type(error).__name__


# =============================================================== CloudFormation: our models
def _base_model() -> type:
    from moto.core.common_models import CloudFormationModel

    model: type = CloudFormationModel
    return model


def _lambda_backend(account_id: str, region: str) -> Any:
    """moto picks lambda_simple_backends when ``use_docker`` is off (our setting): ask it."""
    from moto.awslambda.utils import get_backend

    return get_backend(account_id, region)


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


class _OwnResource:
    """What moto's ResourceMap asks of a resource our models create: Ref is the ARN."""

    arn: str

    def is_created(self) -> bool:
        """moto's ResourceMap asks (CreateStack): ours exist once constructed."""
        return True

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def attributes(self) -> dict[str, str]:
        """Fn::GetAtt attribute -> value."""
        raise NotImplementedError

    def get_cfn_attribute(self, attribute_name: str) -> str:
        attributes = self.attributes()
        if attribute_name in attributes:
            return attributes[attribute_name]
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()


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


@dataclass
class _StateMachineResource(_OwnResource):
    """A state machine as a CloudFormation resource: Ref = ARN; GetAtt Arn, Name, ...

    (moto's own StateMachine model has no ``Arn`` attribute.)
    """

    arn: str
    name: str

    def attributes(self) -> dict[str, str]:
        return {
            "Arn": self.arn,
            "Name": self.name,
            "StateMachineName": self.name,
            "StateMachineRevisionId": "",
        }


class _DeclaredModel:
    """The type and the Fn::GetAtt attributes moto asks of a model, declared as data.

    A mixin, not a base: moto finds models among ``CloudFormationModel.__subclasses__()``, so each
    of ours must name CloudFormationModel as a direct base itself.
    """

    CFN_TYPE: ClassVar[str]
    CFN_ATTRIBUTES: ClassVar[tuple[str, ...]]

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.CFN_TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.CFN_ATTRIBUTES


def _make_models() -> list[type]:
    """Our CloudFormation models: direct subclasses of CloudFormationModel, defined after moto's."""
    base = _base_model()

    class CfnLambdaFunction(_DeclaredModel, base):  # type: ignore[valid-type,misc]
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

    class CfnLambdaVersion(_DeclaredModel, base):  # type: ignore[valid-type,misc]
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

    class CfnLambdaAlias(_DeclaredModel, base):  # type: ignore[valid-type,misc]
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

    class CfnStateMachine(_DeclaredModel, base):  # type: ignore[valid-type,misc]
        """``AWS::StepFunctions::StateMachine`` in the backend that really executes definitions."""

        @staticmethod
        def cloudformation_name_type() -> str:
            return "StateMachineName"

        CFN_TYPE = "AWS::StepFunctions::StateMachine"
        CFN_ATTRIBUTES = ("Arn", "Name", "StateMachineName", "StateMachineRevisionId")

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            from moto.stepfunctions.utils import cfn_to_api_tags

            properties = cloudformation_json["Properties"]
            name = properties.get("StateMachineName") or _state_machine_name(
                kwargs.get("LogicalId", "StateMachine"), resource_name
            )
            backend = _sfn_backend(account_id, region_name)
            machine = backend.create_state_machine(
                name=name,
                definition=_definition(properties, account_id, region_name),
                roleArn=properties.get("RoleArn", ""),
                tags=cfn_to_api_tags(properties.get("Tags", [])),
                loggingConfiguration=_lower_keys(properties.get("LoggingConfiguration")),
                tracingConfiguration=_lower_keys(properties.get("TracingConfiguration")),
                sm_type=properties.get("StateMachineType"),
            )
            return _decorate_state_machine(machine)

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
            wanted = properties.get("StateMachineName")
            if wanted and wanted != original_resource.name:
                cls.delete_from_cloudformation_json(
                    original_resource.arn, cloudformation_json, account_id, region_name
                )
                return cls.create_from_cloudformation_json(
                    new_resource_name, cloudformation_json, account_id, region_name
                )
            backend = _sfn_backend(account_id, region_name)
            machine = backend.update_state_machine(
                original_resource.arn,
                definition=_definition(properties, account_id, region_name),
                role_arn=properties.get("RoleArn"),
                tracing_configuration=_lower_keys(properties.get("TracingConfiguration"))
                or {"enabled": False},
            )
            return _decorate_state_machine(machine)

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            with contextlib.suppress(Exception):
                _sfn_backend(account_id, region_name).delete_state_machine(resource_name)

    return [CfnLambdaFunction, CfnLambdaVersion, CfnLambdaAlias, CfnStateMachine]


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
    """What moto's Function model drops: TracingConfig, and reserved concurrency under our rules."""
    tracing = properties.get("TracingConfig")
    fn.tracing_config = tracing or {"Mode": "PassThrough"}
    control = _control()

    def undo_create() -> None:
        _lambda_backend(fn.account_id, region).delete_function(fn.function_name)

    with _lambda_errors_fail_resource(None if updating else undo_create):
        if reserved is not None:
            control.put_function_concurrency(region, fn.function_name, reserved)
        elif updating and control.get_function_concurrency(region, fn.function_name) is not None:
            control.delete_function_concurrency(region, fn.function_name)


def _state_machine_name(logical_id: str, resource_name: str) -> str:
    """CloudFormation names a state machine ``<LogicalId>-<random>``."""
    suffix = resource_name.rsplit("-", 1)[-1]
    return f"{logical_id}-{suffix}"[:80]


def _lower_keys(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """CloudFormation spells ``Enabled``/``Level``; the Step Functions API ``enabled``/``level``."""
    if not config:
        return None
    return {key[:1].lower() + key[1:]: value for key, value in config.items()}


def _sfn_backend(account_id: str, region: str) -> Any:
    """The backend StartExecution uses: moto picks it from the ``execute_state_machine`` config."""
    from moto.stepfunctions.responses import get_backend

    return get_backend(account_id, region)


def _definition(properties: dict[str, Any], account_id: str, region: str) -> str:
    if "DefinitionString" in properties:
        text = str(properties["DefinitionString"])
    elif "Definition" in properties:
        text = json.dumps(properties["Definition"])
    elif "DefinitionS3Location" in properties:
        from moto.s3.models import s3_backends

        location = properties["DefinitionS3Location"]
        key = s3_backends[account_id]["aws"].get_object(location["Bucket"], location["Key"])
        if key is None:
            raise ValueError(
                f"DefinitionS3Location s3://{location['Bucket']}/{location['Key']} not found"
            )
        text = key.value.decode("utf-8")
    else:
        raise ValueError("One of Definition, DefinitionString or DefinitionS3Location is required")
    for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
        rendered = json.dumps(value) if isinstance(value, bool) else str(value)
        text = text.replace("${" + name + "}", rendered)
    return text


def _decorate_state_machine(machine: Any) -> _StateMachineResource:
    return _StateMachineResource(arn=machine.arn, name=machine.name)


# =============================================================== CloudFormation: stack lifecycle
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
    """Wrap moto's create/update of one resource: schema check first, failures named, and the
    resource's own events (moto records only the stack's), which `sam deploy` prints."""

    def step(
        logical_id: str,
        resource_json: dict[str, Any],
        resources_map: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        resource_type = str(resource_json.get("Type"))
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

    # --- our models replace moto's for the same types ---
    _installed["models"] = _make_models()
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


# =============================================================== Lambda backend hooks
def _install_lambda() -> None:
    from moto.awslambda.models import LambdaBackend

    original_delete_function = LambdaBackend.delete_function

    def delete_function(self: Any, function_name: str, qualifier: str | None = None) -> None:
        original_delete_function(self, function_name, qualifier)
        region, name, qualifier = _control().split_name(self.region_name, function_name, qualifier)
        _control().function_deleted(region, name, qualifier)

    _patch(LambdaBackend, "delete_function", delete_function)

    original_delete_alias = LambdaBackend.delete_alias

    def delete_alias(self: Any, name: str, function_name: str) -> None:
        original_delete_alias(self, name, function_name)
        _, fn_name, _ = _control().split_name(self.region_name, function_name, None)
        _control().alias_deleted(self.region_name, fn_name, name)

    _patch(LambdaBackend, "delete_alias", delete_alias)

    original_update_alias = LambdaBackend.update_alias

    def update_alias(self: Any, name: str, function_name: str, *args: Any, **kwargs: Any) -> Any:
        alias = original_update_alias(self, name, function_name, *args, **kwargs)
        _, fn_name, _ = _control().split_name(self.region_name, function_name, None)
        _control().alias_changed(self.region_name, fn_name, name)
        return alias

    _patch(LambdaBackend, "update_alias", update_alias)


# =============================================================== Step Functions
@dataclass
class _ExecutionTrace:
    trace_id: str  # "1-5f84c7a1-..." (the Root)
    segment_id: str  # the execution's segment: parent of its Lambda calls
    sampled: bool
    name: str
    state_machine_arn: str
    region: str
    started: float

    def header_for_task(self) -> str:
        return f"Root={self.trace_id};Parent={self.segment_id};Sampled={1 if self.sampled else 0}"


_traces: dict[str, _ExecutionTrace] = {}
_traces_lock = threading.Lock()
_task_context = threading.local()


def new_trace_id() -> str:
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def _parse_trace_header(header: str) -> dict[str, str]:
    parts = {}
    for item in header.split(";"):
        key, _, value = item.strip().partition("=")
        if key:
            parts[key] = value
    return parts


def trace_header_for_execution(execution_arn: str) -> str | None:
    """The trace header the Lambda tasks of this execution carry (None if it is not traced)."""
    with _traces_lock:
        trace = _traces.get(execution_arn)
        if trace is None:
            # Map-run child executions carry their parent's name as a prefix
            for arn, candidate in _traces.items():
                if execution_arn.startswith(arn.rsplit(":", 1)[0] + "/"):
                    trace = candidate
                    break
    return trace.header_for_task() if trace else None


@contextlib.contextmanager
def _task_of_execution(execution_arn: str | None) -> Iterator[None]:
    previous = getattr(_task_context, "execution_arn", None)
    _task_context.execution_arn = execution_arn
    try:
        yield
    finally:
        _task_context.execution_arn = previous


def invoke_for_state_machine(
    parameters: dict[str, Any], region: str, state_credentials: Any
) -> dict[str, Any]:
    """Replacement of ``lambda_eval_utils._invoke_lambda_function``: the seam, not boto3.

    Returns what botocore's ``invoke`` would (Payload parsed as the interpreter expects) and raises
    botocore's ClientError for a Lambda service error, so the interpreter reports
    ``Lambda.TooManyRequestsException`` and a Retry naming it works.
    """
    from botocore.exceptions import ClientError

    execution_arn = getattr(_task_context, "execution_arn", None)
    header = trace_header_for_execution(execution_arn) if execution_arn else None
    payload = parameters.get("Payload") or b"{}"
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    log_type: Literal["None", "Tail"] = "Tail" if parameters.get("LogType") == "Tail" else "None"
    try:
        result = _control().invoke(
            region,
            str(parameters["FunctionName"]),
            parameters.get("Qualifier"),
            payload,
            trace_header=header,
            log_type=log_type,
        )
    except LambdaServiceError as error:
        body: dict[str, Any] = {"Code": error.code, "Message": error.message}
        if error.reason:
            body["Reason"] = error.reason
        response: Any = {
            "Error": body,
            "ResponseMetadata": {
                "HTTPStatusCode": error.status,
                "RequestId": secrets.token_hex(16),
            },
        }
        raise ClientError(response, "Invoke") from None
    text = result.payload.decode("utf-8", errors="replace")
    try:
        parsed: Any = json.loads(text) if text else None
    except json.JSONDecodeError:
        parsed = text
    answer: dict[str, Any] = {
        "StatusCode": result.status_code,
        "Payload": parsed,
        "ExecutedVersion": result.executed_version,
    }
    if result.function_error:
        answer["FunctionError"] = result.function_error
    if result.log_result:
        answer["LogResult"] = result.log_result
    return answer


def _emit_execution_segment(trace: _ExecutionTrace, status: str, error: str | None) -> None:
    if not trace.sampled:
        return
    sink = _installed.get("telemetry")
    if sink is None:
        return
    document: dict[str, Any] = {
        "name": trace.name,
        "id": trace.segment_id,
        "trace_id": trace.trace_id,
        "start_time": trace.started,
        "end_time": time.time(),
        "origin": "AWS::StepFunctions::StateMachine",
        "resource_arn": trace.state_machine_arn,
        "aws": {"step_functions": {"state_machine_arn": trace.state_machine_arn}},
        "annotations": {"status": status},
    }
    if status != "SUCCEEDED":
        document["fault"] = True
        if error:
            document["cause"] = {"exceptions": [{"message": error}]}
    sink.put_trace_segments([json.dumps(document)])


INLINE_MAP_MAX_CONCURRENCY = 40  # AWS: an inline Map's iterations at once, whatever it asks


def inline_map_workers(max_concurrency: int, items: int) -> int:
    """The MaxConcurrency moto's inline Map gets: what it asked for, at most 40 (0 = as many as
    possible, so 40, or fewer when there are fewer items; moto reads 0 as one worker per item)."""
    wanted = items if max_concurrency == 0 else max_concurrency
    return min(wanted, INLINE_MAP_MAX_CONCURRENCY)


def express_children_as_standard(definition: str) -> str:
    """The definition with every ``ProcessorConfig.ExecutionType`` EXPRESS read as STANDARD."""
    if "EXPRESS" not in definition:
        return definition
    try:
        document = json.loads(definition)
    except json.JSONDecodeError:
        return definition  # moto's parser reports the syntax error itself

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            config = node.get("ProcessorConfig")
            if isinstance(config, dict) and config.get("ExecutionType") == "EXPRESS":
                config["ExecutionType"] = "STANDARD"
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(document)
    return json.dumps(document)


def _install_stepfunctions() -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend import execution as parser_execution
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    # the Lambda task: through the seam
    _patch(lambda_eval_utils, "_invoke_lambda_function", invoke_for_state_machine)

    original_integration = lambda_eval_utils.execute_lambda_function_integration

    def execute_lambda_function_integration(
        env: Any, parameters: dict[str, Any], region: str, state_credentials: Any
    ) -> None:
        try:
            execution_arn = env.states.context_object.context_object_data["Execution"]["Id"]
        except (AttributeError, KeyError, TypeError):
            execution_arn = None
        with _task_of_execution(execution_arn):
            original_integration(env, parameters, region, state_credentials)

    _patch(
        lambda_eval_utils,
        "execute_lambda_function_integration",
        execute_lambda_function_integration,
    )
    # the two task states imported the module, not the function: patching the module suffices

    # Map concurrency as on AWS: an inline Map never runs more than 40 iterations at once
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        inline_iteration_component as inline_iteration,
    )

    InlineIterationComponent = inline_iteration.InlineIterationComponent
    original_inline_body = InlineIterationComponent._eval_body

    def inline_eval_body(self: Any, env: Any) -> None:
        eval_input = env.stack[-1]  # what moto's _eval_body pops first
        eval_input.max_concurrency = inline_map_workers(
            eval_input.max_concurrency, len(eval_input.input_items or ())
        )
        original_inline_body(self, env)

    _patch(InlineIterationComponent, "_eval_body", inline_eval_body)

    # "ExecutionType": "EXPRESS" for a Distributed Map's children: parsed as STANDARD
    original_parse = AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        return original_parse(express_children_as_standard(definition))

    _patch(AmazonStateLanguageParser, "parse", parse)

    # StartExecution: traceHeader in, and a trace for traced state machines
    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: Any = None,
        execution_input: Any = None,
        trace_header: Any = None,
    ) -> Any:
        machine = self.describe_state_machine(state_machine_arn)
        traced = bool((getattr(machine, "tracingConfiguration", None) or {}).get("enabled"))
        trace: _ExecutionTrace | None = None
        if trace_header or traced:
            given = _parse_trace_header(trace_header or "")
            trace = _ExecutionTrace(
                trace_id=given.get("Root") or new_trace_id(),
                segment_id=secrets.token_hex(8),
                sampled=given.get("Sampled", "1") != "0",
                name=getattr(machine, "name", "StateMachine"),
                state_machine_arn=state_machine_arn,
                region=self.region_name,
                started=time.time(),
            )
            trace_header = f"Root={trace.trace_id};Sampled={1 if trace.sampled else 0}"
            exec_arn = (
                f"arn:aws:states:{self.region_name}:{self.account_id}:execution:"
                f"{machine.name}:{name}"
            )
            with _traces_lock:
                _traces[exec_arn] = trace
        return original_start(self, state_machine_arn, name, execution_input, trace_header)

    _patch(StepFunctionsParserBackend, "start_execution", start_execution)

    def response_start_execution(self: Any) -> Any:
        backend = self.stepfunction_backend
        arn = self._get_param("stateMachineArn")
        name = self._get_param("name")
        execution_input = self._get_param("input", if_none="{}")
        trace_header = self._get_param("traceHeader")
        if isinstance(backend, StepFunctionsParserBackend):
            execution = backend.start_execution(arn, name, execution_input, trace_header)
        else:
            execution = backend.start_execution(arn, name, execution_input)
        return ActionResult(
            {"executionArn": execution.execution_arn, "startDate": execution.start_date}
        )

    _patch(StepFunctionResponse, "start_execution", response_start_execution)

    original_describe = StepFunctionResponse.describe_execution

    def describe_execution(self: Any) -> Any:
        result = original_describe(self)
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        header = getattr(execution, "trace_header", None)
        if header and isinstance(result.result, dict):
            result.result["traceHeader"] = header
        return result

    _patch(StepFunctionResponse, "describe_execution", describe_execution)

    # the end of an execution closes its segment
    comm = parser_execution.BaseExecutionWorkerCommunication
    original_terminated = comm.terminated

    def terminated(self: Any) -> None:
        original_terminated(self)
        execution = self.execution
        with _traces_lock:
            # done with it: its tasks have run (the execution keeps its own trace_header)
            trace = _traces.pop(execution.exec_arn, None)
        if trace is not None:
            status = getattr(execution.exec_status, "value", str(execution.exec_status))
            try:
                _emit_execution_segment(trace, status, execution.error)
            except Exception as error:  # telemetry must never break an execution
                LOG.warning("could not record the execution segment: %s", error)

    _patch(comm, "terminated", terminated)


# =============================================================== the seam
def install(
    control_plane: LambdaControlPlane, telemetry: Any = None, *, cloudformation_now: bool = True
) -> None:
    """Apply every patch (once per process) and route them to this control plane.

    A second call only swaps the control plane (tests run several local clouds in one process).
    With ``cloudformation_now=False`` the CloudFormation patches wait for
    :func:`ensure_cloudformation` (the server calls it on the first CloudFormation request):
    importing moto's CloudFormation costs about a second, which a start should not wait for.
    """
    with _install_lock:
        _installed["control_plane"] = control_plane
        _installed["telemetry"] = telemetry
        _installed["active"] = True
        if not _installed.get("done"):
            _install_lambda()
            _install_stepfunctions()
            _installed["done"] = True
    if cloudformation_now:
        ensure_cloudformation()


def ensure_cloudformation() -> None:
    """Install the CloudFormation patches if not yet done (idempotent, thread-safe)."""
    if _installed.get("cloudformation"):
        return
    with _install_lock:
        if not _installed.get("cloudformation"):
            _install_cloudformation()
            _installed["cloudformation"] = True


def deactivate() -> None:
    """The local cloud stopped: patched moto functions behave as moto's own again."""
    with _install_lock:
        _installed["active"] = False


def configure_moto() -> None:
    """moto settings the local cloud depends on (moto's ``POST /moto-api/config`` equivalent)."""
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    # moto's own Lambda would only echo payloads without Docker; ours runs through the seam.
    default_user_config["lambda"] = {**default_user_config.get("lambda", {}), "use_docker": False}
