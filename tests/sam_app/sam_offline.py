"""Offline stand-ins for the two server-side steps of a deploy, used by the SAM app's tests.

* ``translate``: what CloudFormation's ``AWS::Serverless-2016-10-31`` transform does, with
  aws-sam-translator (the code that transform is built from). The local ``CodeUri`` and
  ``DefinitionUri`` paths are first replaced by S3 URIs, as ``sam package`` does; managed policy
  ARNs come from the translator's bundled map instead of IAM.
* ``substitute_definition``: what CloudFormation does with ``DefinitionSubstitutions``: plain
  text replacement of ``${name}`` in the definition file.
* ``parameter_problem``: CloudFormation's documented checks of a parameter value (Number type,
  MinValue/MaxValue, AllowedPattern matching the whole value, AllowedValues).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
DEFINITION = ROOT / "statemachine" / "concurrency_test_state_machine.asl.json"
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    template: dict[str, Any] = yaml_parse(path.read_text())
    return template


def _package_local_paths(template: dict[str, Any]) -> dict[str, Any]:
    """Point local code and definition paths at S3, like ``sam package`` (keys are made up)."""
    packaged = copy.deepcopy(template)
    sections = [packaged.get("Globals", {}).get("Function", {})] + [
        resource.get("Properties", {}) for resource in packaged["Resources"].values()
    ]
    for properties in sections:
        for key in ("CodeUri", "DefinitionUri"):
            value = properties.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                properties[key] = f"s3://pclab-test-bucket/{value.strip('/')}"
    return packaged


def translate(
    template: dict[str, Any] | None = None, parameter_values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The plain CloudFormation template the SAM transform turns ``template`` into."""
    from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    class BundledPolicies(ManagedPolicyLoader):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(iam_client=None)
            self._policy_map = dict(get_bundled_managed_policy_map("aws") or {})

    source = _package_local_paths(template if template is not None else load_template())
    result: dict[str, Any] = transform(source, dict(parameter_values or {}), BundledPolicies())
    return result


def substitute_definition(substitutions: dict[str, str], text: str | None = None) -> str:
    """The definition text after CloudFormation's DefinitionSubstitutions (unknown names stay)."""
    source = DEFINITION.read_text() if text is None else text
    return PLACEHOLDER.sub(lambda m: substitutions.get(m.group(1), m.group(0)), source)


def placeholders(text: str | None = None) -> set[str]:
    return set(PLACEHOLDER.findall(DEFINITION.read_text() if text is None else text))


def parameter_problem(spec: dict[str, Any], value: str) -> str | None:
    """Why CloudFormation would refuse ``value`` for a parameter declared as ``spec``, or None."""
    if spec["Type"] == "Number":
        try:
            number = float(value)
        except ValueError:
            return "must be a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return str(spec.get("ConstraintDescription", "below MinValue"))
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return str(spec.get("ConstraintDescription", "above MaxValue"))
    elif spec["Type"] == "String":
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            return str(spec.get("ConstraintDescription", "does not match AllowedPattern"))
    else:
        raise AssertionError(f"parameter type {spec['Type']} is not modelled here")
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        return str(spec.get("ConstraintDescription", "not one of AllowedValues"))
    return None


def definition_for(
    alias_arn: str, max_concurrency: str, load_mode: str = "DISTRIBUTED"
) -> dict[str, Any]:
    """The definition as a state machine gets it, parsed."""
    text = substitute_definition(
        {"FunctionAliasArn": alias_arn, "MapMaxConcurrency": max_concurrency, "LoadMode": load_mode}
    )
    definition: dict[str, Any] = json.loads(text)
    return definition
