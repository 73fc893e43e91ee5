"""Guards pclab/localcloud/moto/cloudformation_stacks.py: stacks, change sets, our models."""

from __future__ import annotations

from localcloud.cloud_helpers import Cloud
from localcloud.moto.guard import (
    CFN_BACKEND,
    guard_tests,
)
from pclab.localcloud.moto import _patching

RESOURCE_ARGS = ["logical_id", "resource_json", "resources_map", "account_id", "region_name"]

# (owner, attribute) -> leading parameters of moto's original
PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    ("moto.cloudformation.models.Stack", "_parse_template"): ["self"],
    ("moto.cloudformation.models.ChangeSet", "_parse_template"): ["self"],
    ("moto.cloudformation.models.Stack", "has_template"): ["self", "other_template"],
    ("moto.cloudformation.models.Stack", "has_parameters"): ["self", "other_parameters"],
    ("moto.cloudformation.models.ChangeSet", "diff"): ["self"],
    ("moto.cloudformation.parsing", "parse_and_create_resource"): RESOURCE_ARGS,
    ("moto.cloudformation.parsing", "parse_and_update_resource"): RESOURCE_ARGS,
    (CFN_BACKEND, "create_change_set"): [
        "self",
        "stack_name",
        "change_set_name",
        "template",
        "parameters",
        "description",
        "change_set_type",
    ],
    (CFN_BACKEND, "execute_change_set"): ["self", "change_set_name", "stack_name"],
    (CFN_BACKEND, "create_stack"): ["self", "name", "template", "parameters"],
    (CFN_BACKEND, "update_stack"): ["self", "name", "template", "role_arn", "parameters"],
    (CFN_BACKEND, "list_stack_resources"): ["self", "stack_name_or_id"],
    (CFN_BACKEND, "describe_stack_resources"): ["self", "stack_name", "logical_resource_id"],
}

# (module, dotted attribute) read without replacing
READ_INTERNALS = [
    ("moto.cloudformation.models", "Stack.parse_template"),
    ("moto.cloudformation.models", "Stack._create_output_map"),
    ("moto.cloudformation.parsing", "get_references_from_template"),
    ("moto.cloudformation.parsing", "get_model_list.cache_clear"),
    ("moto.cloudformation.parsing", "get_model_map.cache_clear"),
    ("moto.cloudformation.parsing", "get_name_type_map.cache_clear"),
    ("moto.cloudformation.exceptions", "ValidationError"),
]


test_patched_internal_keeps_its_shape, test_read_internal_exists = guard_tests(
    PATCHED_SIGNATURES, READ_INTERNALS
)


def test_our_models_win_in_moto_model_map(cloud: Cloud) -> None:
    from moto.cloudformation.parsing import get_model_map

    ours = {model.cloudformation_type(): model for model in _patching._installed["models"]}
    assert set(ours) == {
        "AWS::Lambda::Function",
        "AWS::Lambda::Version",
        "AWS::Lambda::Alias",
        "AWS::StepFunctions::StateMachine",
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Stage",
        "AWS::Lambda::Permission",
    }
    for resource_type, model in ours.items():
        assert get_model_map()[resource_type] is model
