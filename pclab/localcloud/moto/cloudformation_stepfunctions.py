"""The CloudFormation model of ``AWS::StepFunctions::StateMachine``.

What it adds to moto's (see FACTS.md): ``DefinitionS3Location``, ``Definition`` and
``DefinitionSubstitutions`` (moto reads only ``DefinitionString``), ``TracingConfiguration``, the
``Arn``/``Name`` attributes, and creation in the *executing* Step Functions backend (moto's model
lands in the non-executing one even with ``execute_state_machine`` on).

moto internals read, and why:

* ``moto.stepfunctions.responses.get_backend`` (through :func:`.stepfunctions._sfn_backend`): the
  backend StartExecution uses, chosen by moto's ``execute_state_machine`` config;
* its ``create_state_machine`` / ``update_state_machine`` / ``delete_state_machine``;
* ``moto.stepfunctions.utils.cfn_to_api_tags``: CloudFormation's tag list as the API's;
* ``moto.s3.models.s3_backends[account]["aws"].get_object``: a ``DefinitionS3Location``.

Nothing is patched here: the model is put in moto's model map by :mod:`.cloudformation_stacks`.
Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from pclab.localcloud.moto.cloudformation_resources import _DeclaredModel, _OwnResource
from pclab.localcloud.moto.stepfunctions import _sfn_backend


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


def _make_state_machine_model(base: type) -> type:
    """Our state machine model: a direct subclass of ``base`` (CloudFormationModel)."""

    class CfnStateMachine(_DeclaredModel, base):  # type: ignore[misc]
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

    return CfnStateMachine


def _state_machine_name(logical_id: str, resource_name: str) -> str:
    """CloudFormation names a state machine ``<LogicalId>-<random>``."""
    suffix = resource_name.rsplit("-", 1)[-1]
    return f"{logical_id}-{suffix}"[:80]


def _lower_keys(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """CloudFormation spells ``Enabled``/``Level``; the Step Functions API ``enabled``/``level``."""
    if not config:
        return None
    return {key[:1].lower() + key[1:]: value for key, value in config.items()}


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
