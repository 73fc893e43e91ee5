"""Fails loudly when a moto upgrade moves anything pclab/localcloud/moto/ relies on.

Two tables: every attribute we *replace* (with the parameters moto's original must still take),
and every internal we only *read*. A new patch without a row here fails the first test.
"""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Any

import pytest

from localcloud.cloud_helpers import ACCOUNT, REGION, Cloud, make_function
from pclab.localcloud import moto as moto_ext
from pclab.localcloud.moto import _patching, stepfunctions

CFN_BACKEND = "moto.cloudformation.models.CloudFormationBackend"
LAMBDA_BACKEND = "moto.awslambda.models.LambdaBackend"
EVAL_UTILS = "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
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
    (LAMBDA_BACKEND, "delete_function"): ["self", "function_name", "qualifier"],
    (LAMBDA_BACKEND, "delete_alias"): ["self", "name", "function_name"],
    (LAMBDA_BACKEND, "update_alias"): ["self", "name", "function_name", "function_version"],
    (EVAL_UTILS, "_invoke_lambda_function"): ["parameters", "region", "state_credentials"],
    (EVAL_UTILS, "execute_lambda_function_integration"): [
        "env",
        "parameters",
        "region",
        "state_credentials",
    ],
    ("moto.stepfunctions.parser.models.StepFunctionsParserBackend", "start_execution"): [
        "self",
        "state_machine_arn",
        "name",
        "execution_input",
        "trace_header",
    ],
    ("moto.stepfunctions.responses.StepFunctionResponse", "start_execution"): ["self"],
    ("moto.stepfunctions.responses.StepFunctionResponse", "describe_execution"): ["self"],
    (
        "moto.stepfunctions.parser.backend.execution.BaseExecutionWorkerCommunication",
        "terminated",
    ): ["self"],
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration"
        ".inline_iteration_component.InlineIterationComponent",
        "_eval_body",
    ): ["self", "env"],
    ("moto.stepfunctions.parser.asl.parse.asl_parser.AmazonStateLanguageParser", "parse"): [
        "definition"
    ],
}

# (module, dotted attribute) that pclab/localcloud/moto/ reads without replacing
READ_INTERNALS = [
    ("moto.awslambda.utils", "get_backend"),
    ("moto.awslambda.models", "LambdaFunction.create_from_cloudformation_json"),
    ("moto.awslambda.models", "LambdaFunction.update_from_cloudformation_json"),
    ("moto.awslambda.models", "LambdaBackend.publish_version"),
    ("moto.awslambda.models", "LambdaBackend.create_alias"),
    ("moto.cloudformation.models", "Stack.parse_template"),
    ("moto.cloudformation.models", "Stack._add_stack_event"),
    ("moto.cloudformation.models", "Stack._create_output_map"),
    ("moto.cloudformation.parsing", "ResourceMap._delete_resource"),
    ("moto.cloudformation.parsing", "ResourceMap.delete"),
    ("moto.cloudformation.parsing", "get_references_from_template"),
    ("moto.cloudformation.parsing", "parse_resource"),
    ("moto.cloudformation.models", "cloudformation_backends"),
    ("moto.cloudformation.parsing", "get_model_list.cache_clear"),
    ("moto.cloudformation.parsing", "get_model_map.cache_clear"),
    ("moto.cloudformation.parsing", "get_name_type_map.cache_clear"),
    ("moto.cloudformation.exceptions", "ValidationError"),
    ("moto.cloudformation.exceptions", "UnformattedGetAttTemplateException"),
    ("moto.core.common_models", "CloudFormationModel"),
    ("moto.core.config", "default_user_config"),
    ("moto.core.responses", "ActionResult.result"),
    ("moto.logs.models", "logs_backends"),
    ("moto.logs.models", "LogsBackend.create_log_group"),
    ("moto.logs.models", "LogsBackend.create_log_stream"),
    ("moto.logs.models", "LogsBackend.put_log_events"),
    ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication"),
    ("moto.moto_server.werkzeug_app", "MotoRequestHandler"),
    ("moto.moto_server.werkzeug_app", "create_backend_app"),
    ("moto.s3.models", "s3_backends"),
    ("moto.stepfunctions.responses", "get_backend"),
    ("moto.stepfunctions.utils", "cfn_to_api_tags"),
    ("moto.xray.models", "xray_backends"),
    ("moto.xray.models", "XRayBackend.process_segment"),
    # the inline Map cap reads the eval input _eval_body pops: its two fields we use
    (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration"
        ".inline_iteration_component",
        "InlineIterationComponentEvalInput.__init__",
    ),
]


@pytest.fixture(autouse=True)
def all_patches(cloud: Cloud) -> None:
    """The server installs the CloudFormation patches on first use: have them all here."""
    moto_ext.ensure_cloudformation()


def _resolve(dotted: str) -> Any:
    module_name, _, rest = dotted.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in rest.split(".") if rest else []:
        target = getattr(target, part)
    return target


def _owner(label: str) -> Any:
    """'moto.x.y.Class' or 'moto.x.y' (a module) -> the object."""
    try:
        return importlib.import_module(label)
    except ModuleNotFoundError:
        module, _, cls = label.rpartition(".")
        return getattr(importlib.import_module(module), cls)


def test_every_patch_has_a_row_here(cloud: Cloud) -> None:
    assert sorted(set(moto_ext.PATCHED)) == sorted(PATCHED_SIGNATURES)


@pytest.mark.parametrize("key", sorted(PATCHED_SIGNATURES), ids=lambda k: f"{k[0]}.{k[1]}")
def test_patched_internal_keeps_its_shape(cloud: Cloud, key: tuple[str, str]) -> None:
    original = moto_ext.ORIGINALS[key]
    assert original.__module__.startswith("moto."), f"{key}: not moto's own function"
    assert getattr(_owner(key[0]), key[1]) is not original  # our replacement is in place
    parameters = list(inspect.signature(original).parameters)
    expected = PATCHED_SIGNATURES[key]
    assert parameters[: len(expected)] == expected, f"moto changed {key}: {parameters}"


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert _resolve(f"{module}:{attribute}") is not None


def test_the_inline_map_cap_reads_moto_eval_input_fields() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        inline_iteration_component as inline_iteration,
    )

    fields = inspect.signature(inline_iteration.InlineIterationComponentEvalInput).parameters
    assert {"max_concurrency", "input_items"} <= set(fields)
    # moto still reads 0 as "one worker per item": the cap turns it into AWS's 40
    owner = inline_iteration.InlineIterationComponent
    key = (f"{owner.__module__}.{owner.__qualname__}", "_eval_body")
    source = inspect.getsource(moto_ext.ORIGINALS.get(key, owner._eval_body))
    assert "len(input_items)" in source and "DEFAULT_MAX_CONCURRENCY_VALUE" in source
    assert [stepfunctions.inline_map_workers(m, n) for m, n in [(0, 150), (0, 6), (5, 150)]] == [
        40,
        6,
        5,
    ]
    assert stepfunctions.inline_map_workers(100, 150) == 40


def test_express_children_are_parsed_as_standard_only_where_the_grammar_needs_it() -> None:
    definition = (
        '{"StartAt": "M", "States": {"M": {"Type": "Map", "Comment": "EXPRESS", "ItemProcessor":'
        ' {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}}}}}'
    )
    rewritten = json.loads(stepfunctions.express_children_as_standard(definition))
    processor = rewritten["States"]["M"]["ItemProcessor"]["ProcessorConfig"]
    assert processor == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert rewritten["States"]["M"]["Comment"] == "EXPRESS"
    assert stepfunctions.express_children_as_standard("{not json EXPRESS") == "{not json EXPRESS"


def test_our_models_win_in_moto_model_map(cloud: Cloud) -> None:
    from moto.cloudformation.parsing import get_model_map

    ours = {model.cloudformation_type(): model for model in _patching._installed["models"]}
    assert set(ours) == {
        "AWS::Lambda::Function",
        "AWS::Lambda::Version",
        "AWS::Lambda::Alias",
        "AWS::StepFunctions::StateMachine",
    }
    for resource_type, model in ours.items():
        assert get_model_map()[resource_type] is model


def test_function_records_have_the_fields_we_read(cloud: Cloud) -> None:
    """LambdaStorage layout and LambdaFunction attributes behind MotoFunctionDirectory."""
    fn = make_function(cloud, tracing=True)
    directory = moto_ext.MotoFunctionDirectory(ACCOUNT)
    latest = directory.latest(REGION, fn.name)
    version = directory.version(REGION, fn.name, fn.version)
    assert latest is not None and version is not None
    assert (latest.version, version.version) == ("$LATEST", fn.version)
    assert latest.handler == "app.handler" and latest.runtime == "python3.11"
    assert latest.tracing_active and latest.code_zip.startswith(b"PK")
    assert len(latest.code_sha256) > 20
    assert directory.aliases(REGION, fn.name) == {"live": fn.version}
    assert fn.name in directory.function_names(REGION)


def test_moto_is_configured_to_execute_state_machines(cloud: Cloud) -> None:
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    assert default_user_config["stepfunctions"] == {"execute_state_machine": True}
    assert isinstance(stepfunctions._sfn_backend(ACCOUNT, REGION), StepFunctionsParserBackend)


def test_patches_act_only_while_a_local_cloud_runs() -> None:
    calls: list[str] = []
    dispatch = _patching._dispatcher(lambda: calls.append("moto"), lambda: calls.append("ours"))
    with _patching._install_lock:
        before = _patching._installed.get("active")
    try:
        _patching._installed["active"] = True
        dispatch()
        moto_ext.deactivate()
        dispatch()
    finally:
        _patching._installed["active"] = before
    assert calls == ["ours", "moto"]
