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
  ``get_cfn_attribute(name)``.

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
