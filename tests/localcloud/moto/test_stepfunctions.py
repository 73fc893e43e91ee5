"""Guards pclab/localcloud/moto/stepfunctions.py: the interpreter's Lambda task, traces, Map."""

from __future__ import annotations

import inspect
import json
import uuid

from localcloud.cloud_helpers import Cloud
from localcloud.moto.guard import (
    EVAL_UTILS,
    INLINE_ITERATION,
    guard_tests,
)
from pclab.localcloud import moto as moto_ext
from pclab.localcloud.moto import stepfunctions

TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
SERVICE_LAMBDA = f"{TASK}.service.state_task_service_lambda"

# (owner, attribute) -> leading parameters of moto's original
PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
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
    (f"{INLINE_ITERATION}.InlineIterationComponent", "_eval_body"): ["self", "env"],
    ("moto.stepfunctions.parser.asl.parse.asl_parser.AmazonStateLanguageParser", "parse"): [
        "definition"
    ],
    (f"{SERVICE_LAMBDA}.StateTaskServiceLambda", "_error_cause_from_client_error"): [
        "client_error"
    ],
}

# (module, dotted attribute) read without replacing
READ_INTERNALS = [
    ("moto.core.responses", "ActionResult.result"),
    ("moto.stepfunctions.responses", "get_backend"),
    # the inline Map cap reads the eval input _eval_body pops: its two fields we use
    (INLINE_ITERATION, "InlineIterationComponentEvalInput.__init__"),
    # the IAM check reads the role a task runs as
    (f"{TASK}.credentials", "StateCredentials"),
    (f"{TASK}.state_task", "StateTask._eval_state_credentials"),
    ("moto.stepfunctions.parser.asl.eval.evaluation_details", "AWSExecutionDetails"),
]


test_patched_internal_keeps_its_shape, test_read_internal_exists = guard_tests(
    PATCHED_SIGNATURES, READ_INTERNALS
)


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


def test_the_iam_check_reads_the_tasks_role_and_names_errors_as_aws() -> None:
    """StateCredentials carries the role (moto fills it from the state machine's roleArn), and
    an error code Lambda's API does not model is the SDK's base exception, as on AWS."""
    import dataclasses

    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        credentials,
        state_task,
    )

    assert [f.name for f in dataclasses.fields(credentials.StateCredentials)] == ["role_arn"]
    source = inspect.getsource(state_task.StateTask._eval_state_credentials)
    assert "env.aws_execution_details.role_arn" in source
    assert stepfunctions.task_error_name("TooManyRequestsException") == (
        "Lambda.TooManyRequestsException"
    )
    assert stepfunctions.task_error_name("AccessDeniedException") == "Lambda.AWSLambdaException"


def test_unnamed_executions_get_a_uuid_each_as_on_aws(cloud: Cloud) -> None:
    sfn = cloud.client("stepfunctions")
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    machine = sfn.create_state_machine(
        name="unnamed-starts",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/unnamed",
    )["stateMachineArn"]
    names = [
        sfn.start_execution(stateMachineArn=machine)["executionArn"].rsplit(":", 1)[1]
        for _ in range(2)
    ]
    assert names[0] != names[1]
    assert all(str(uuid.UUID(name)) == name for name in names)
