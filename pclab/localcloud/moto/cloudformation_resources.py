"""CloudFormation resources: what all our resource models share, and the schema check.

Our models for ``AWS::Lambda::*`` live in :mod:`.cloudformation_lambda`, the one for
``AWS::StepFunctions::StateMachine`` in :mod:`.cloudformation_stepfunctions`; both build on
:class:`_OwnResource` and :class:`_DeclaredModel` here. :func:`_validate_properties` checks a
resource's properties against the CloudFormation resource schemas (moto accepts any property;
AWS rejects an unknown one, which hides typos until the first real deploy).

moto internals read, and why:

* ``moto.core.common_models.CloudFormationModel``: the base moto finds models by (its
  ``__subclasses__()``, see :mod:`.cloudformation_stacks`); imported only when models are made,
  because importing it pulls in moto's CloudFormation (about a second of start-up);
* ``moto.cloudformation.exceptions.UnformattedGetAttTemplateException``: what moto's ResourceMap
  turns into CloudFormation's Fn::GetAtt error;
* what moto's ResourceMap asks of a resource: ``is_created()``, ``physical_resource_id``,
  ``get_cfn_attribute(name)``;
* ``moto.cloudformation.parsing.get_model_map``: the types the local cloud can create
  (:func:`supported_types`). moto itself logs a warning for any other type and leaves a hole in
  the stack (no physical ID, nothing made, yet CREATE_COMPLETE); :func:`check_supported` fails
  such a resource instead, as CloudFormation fails what it cannot create.

Nothing is patched here. The schemas are cfn-lint's copy of AWS's (``cfnlint/data/schemas``).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, ClassVar


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


# Entries of moto's model map that are no resource type: the base of its custom resources ("?",
# which needs moto's Docker-run Lambda to answer) and its own template for new models.
_NOT_RESOURCE_TYPES = frozenset({"?", "AWS::SERVICE::RESOURCE"})


def supported_types() -> list[str]:
    """The resource types a stack on the local cloud can create, sorted: moto's and ours.

    Read from moto's model map as CloudFormation uses it (our models installed in it), so the
    documented list (docs/local-cloud.md, ``pclab local-cloud supported-types``) is the code's.
    Custom resources (``Custom::*``, ``AWS::CloudFormation::CustomResource``) are not among them:
    moto runs their function in Docker, which the local cloud does not use.
    """
    from moto.cloudformation import parsing

    return sorted(set(parsing.get_model_map()) - _NOT_RESOURCE_TYPES)


def types_markdown(types: list[str]) -> str:
    """The list as docs/local-cloud.md shows it: one line per service, every type in full."""
    services: dict[str, list[str]] = {}
    for name in types:
        services.setdefault(name.split("::")[1], []).append(name)
    return "\n".join(
        f"- {service}: " + ", ".join(f"`{name}`" for name in names)
        for service, names in sorted(services.items())
    )


def check_supported(logical_id: str, resource_type: str) -> None:
    """Fail a resource of a type the local cloud cannot create (moto would skip it silently)."""
    from moto.cloudformation import parsing

    if resource_type in _NOT_RESOURCE_TYPES or resource_type not in parsing.get_model_map():
        raise ResourceFailed(
            logical_id,
            resource_type,
            f"Resource {logical_id} of type {resource_type} is not supported by the local cloud "
            "(the types it can create: `pclab local-cloud supported-types`, docs/local-cloud.md)",
        )


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


def _base_model() -> type:
    from moto.core.common_models import CloudFormationModel

    model: type = CloudFormationModel
    return model


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
