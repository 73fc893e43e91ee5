"""Step Functions: the interpreter's Lambda task through the invocation seam, traces, Map limits.

What the patches add, and why moto needs them (see FACTS.md):

* the interpreter's Lambda task (``lambda_eval_utils._invoke_lambda_function``) goes through the
  invocation seam instead of a boto3 client; ``execute_lambda_function_integration`` is wrapped
  only to know which execution (and so which trace) the task belongs to;
* StartExecution passes ``traceHeader`` and, for a traced state machine, starts a trace;
  DescribeExecution returns ``traceHeader`` (moto 5.2.5 drops both):
  ``StepFunctionsParserBackend.start_execution``, ``StepFunctionResponse.start_execution`` /
  ``describe_execution``; the execution is recorded as an ``AWS::StepFunctions::StateMachine``
  segment of that trace when it ends (``BaseExecutionWorkerCommunication.terminated``); both
  also count the execution in ``AWS/States`` (:mod:`.stepfunctions_metrics`: moto emits none);
* an inline Map runs at most 40 iterations at once, as on AWS (moto runs MaxConcurrency workers,
  or one per item for 0): ``InlineIterationComponent._eval_body``, which reads the
  ``max_concurrency`` and ``input_items`` of the ``InlineIterationComponentEvalInput`` it pops;
* a Distributed Map's ``"ExecutionType": "EXPRESS"`` is accepted (moto's ASL grammar knows only
  STANDARD; its interpreter runs both alike): ``AmazonStateLanguageParser.parse``;
* the Lambda task's role must allow ``lambda:InvokeFunction`` on the function it calls (moto
  enforces no IAM): the seam asks :func:`.iam.invoke_denial` first (the task's role is
  ``StateCredentials.role_arn``: the state machine's, or the task's ``Credentials``) and answers
  AccessDeniedException (403) as Lambda does; an error code Lambda's API does not model is
  named ``Lambda.AWSLambdaException`` in the task's failure, as AWS's Step Functions names it
  (moto names every one ``Lambda.<code>``):
  ``StateTaskServiceLambda._error_cause_from_client_error`` (a staticmethod; moto's cause text,
  "<message> (Service: AWSLambda; Status Code: ...; Proxy: null)", is AWS's and is kept).

moto internals read, and why: ``moto.stepfunctions.responses.get_backend`` (the backend
StartExecution uses, picked by the ``execute_state_machine`` config); ``ActionResult`` (what a
moto response method returns, and its ``result``); the execution's ``exec_arn``,
``exec_status``, ``error`` and ``trace_header``; the context object's ``Execution.Id``;
``StateCredentials.role_arn`` (the role a task runs as; moto fills it from the state machine's
``roleArn`` through ``AWSExecutionDetails.role_arn``, or from the task's ``Credentials``).

Imports: moto and botocore only inside functions (start-up cost).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pclab.localcloud.invocation import LambdaServiceError
from pclab.localcloud.moto._patching import LOG, _control, _installed, _patch
from pclab.localcloud.moto.iam import _install_iam, invoke_denial
from pclab.localcloud.moto.stepfunctions_metrics import execution_closed, execution_started


def _sfn_backend(account_id: str, region: str) -> Any:
    """The backend StartExecution uses: moto picks it from the ``execute_state_machine`` config."""
    from moto.stepfunctions.responses import get_backend

    return get_backend(account_id, region)


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
    denied = invoke_denial(
        str(getattr(state_credentials, "role_arn", "") or ""),
        str(parameters["FunctionName"]),
        parameters.get("Qualifier"),
        region,
    )
    if denied is not None:
        raise _client_error(LambdaServiceError("AccessDeniedException", denied, status=403))
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
        raise _client_error(error) from None
    text = result.payload.decode("utf-8", errors="replace")
    try:
        parsed: Any = json.loads(text) if text else None
    except json.JSONDecodeError:
        parsed = text
    # AWS's lambda:invoke result carries the SDK's response metadata too: the request id is
    # how a state machine that does not control the handler's answer names the call (the
    # history adapter and pclab's load generator read SdkResponseMetadata.RequestId)
    headers = {
        "x-amzn-RequestId": result.request_id,
        "X-Amz-Executed-Version": result.executed_version,
        "Content-Type": "application/json",
    }
    answer: dict[str, Any] = {
        "StatusCode": result.status_code,
        "Payload": parsed,
        "ExecutedVersion": result.executed_version,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {key: [value] for key, value in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": result.status_code,
        },
        "SdkResponseMetadata": {"RequestId": result.request_id},
    }
    # moto keeps only InvocationResponse's keys of this answer: the wrapper below adds these back
    _task_context.sdk_metadata = {k: answer[k] for k in ("SdkHttpMetadata", "SdkResponseMetadata")}
    if result.function_error:
        answer["FunctionError"] = result.function_error
    if result.log_result:
        answer["LogResult"] = result.log_result
    return answer


def _client_error(error: LambdaServiceError) -> Exception:
    """botocore's ClientError for a Lambda service error, as boto3's ``invoke`` would raise it."""
    from botocore.exceptions import ClientError

    body: dict[str, Any] = {"Code": error.code, "Message": error.message}
    if error.reason:
        body["Reason"] = error.reason
    response: Any = {
        "Error": body,
        "ResponseMetadata": {"HTTPStatusCode": error.status, "RequestId": str(uuid.uuid4())},
    }
    return ClientError(response, "Invoke")


@cache
def lambda_error_codes() -> frozenset[str]:
    """The error codes Lambda's API models (botocore's service model)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("lambda")
    return frozenset(
        name for name in model.shape_names if model.shape_for(name).metadata.get("exception")
    )


def task_error_name(code: str) -> str:
    """What a Step Functions Lambda task calls a Lambda API error: its code when Lambda's API
    models it (``Lambda.TooManyRequestsException``), else ``Lambda.AWSLambdaException``, the AWS
    SDK's base exception (AccessDeniedException, for one, is not modelled)."""
    return f"Lambda.{code}" if code in lambda_error_codes() else "Lambda.AWSLambdaException"


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
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_lambda as service_lambda,
    )
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
        _task_context.sdk_metadata = None
        with _task_of_execution(execution_arn):
            original_integration(env, parameters, region, state_credentials)
        metadata = getattr(_task_context, "sdk_metadata", None)
        if metadata and env.stack and isinstance(env.stack[-1], dict):
            env.stack[-1].update(metadata)

    _patch(
        lambda_eval_utils,
        "execute_lambda_function_integration",
        execute_lambda_function_integration,
    )
    # the two task states imported the module, not the function: patching the module suffices

    # the role's lambda:InvokeFunction: an AccessDeniedException is Lambda.AWSLambdaException
    _install_iam()
    task_lambda = service_lambda.StateTaskServiceLambda
    original_error_cause = task_lambda._error_cause_from_client_error

    def error_cause_from_client_error(client_error: Any) -> tuple[str, str]:
        _, cause = original_error_cause(client_error)
        return task_error_name(client_error.response["Error"]["Code"]), cause

    _patch(task_lambda, "_error_cause_from_client_error", error_cause_from_client_error)

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
        execution = original_start(self, state_machine_arn, name, execution_input, trace_header)
        execution_started(execution)
        return execution

    _patch(StepFunctionsParserBackend, "start_execution", start_execution)

    def response_start_execution(self: Any) -> Any:
        backend = self.stepfunction_backend
        arn = self._get_param("stateMachineArn")
        # AWS names an unnamed execution with a UUID; moto named it "None", so a second unnamed
        # start of the same state machine failed with ExecutionAlreadyExists.
        name = self._get_param("name") or str(uuid.uuid4())
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
        execution_closed(execution)
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
