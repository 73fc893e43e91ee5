"""``pclab run --function NAME[:QUALIFIER]``: measure any function with a reusable load generator.

The load is the sample's own: a state machine whose Distributed Map invokes the function once
per item, every item at once, with the same arrivals (``startAt``/``startAfterSeconds``). It
lives in its own small stack (``pclab-loadgen``, template ``loadgen/template.yaml`` beside this
module, plain CloudFormation: no bucket, no SAM CLI), created on first use and reused; it costs
nothing while idle. The function to call is in each execution's input, so one stack serves every
function; its role may invoke the functions its ``FunctionNamePattern`` parameter allows (any,
by default).

WHY a state machine and not a client-side invoker: the caller's view (when each call started
and ended) is then Step Functions', the same as for the sample's runs, every call starts from
inside AWS (no client machine's network or thread scheduling in the latency), and the runner's
machinery (executions, gather, the report) works unchanged on a :class:`Target` built from the
function. What it cannot have: the handler's own view (initialization type, environment id,
handler times), which only the sample's handler reports; X-Ray and the REPORT lines stand in.
"""

from __future__ import annotations

import hashlib
import json
import time
from importlib import resources
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pclab.cloud.aws import Clients
from pclab.cloud.errors import RunnerError, as_runner_error, error_code, error_message
from pclab.cloud.input import PAYLOAD_LIMIT_BYTES, ExecutionInput
from pclab.cloud.stack import Stack, Target, is_local

STACK_NAME = "pclab-loadgen"
READY = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")
# the load generator's Map: every item at once (what run_configs and the analysis read)
PARAMETERS = {"LoadMode": "DISTRIBUTED", "MapMaxConcurrency": "0"}
DEPLOY_TIMEOUT_S = 600.0


def template_text() -> str:
    return resources.files("pclab.cloud").joinpath("loadgen/template.yaml").read_text("utf-8")


def template_version(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def parse_function(spec: str) -> tuple[str, str | None]:
    """``NAME``, ``NAME:QUALIFIER`` or a function ARN (qualified or not) -> (name or ARN,
    qualifier); a :class:`RunnerError` naming the fix for anything else."""
    text = spec.strip()
    if text.startswith("arn:"):
        parts = text.split(":")
        if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
            raise RunnerError(
                f"--function {spec}: not a function ARN (arn:aws:lambda:REGION:ACCOUNT:"
                "function:NAME[:QUALIFIER]); give NAME[:QUALIFIER]"
            )
        qualifier = parts[7] if len(parts) == 8 else None
        return ":".join(parts[:7]), qualifier or None
    name, _, qualifier = text.partition(":")
    if not name or ":" in qualifier or (_ and not qualifier):
        raise RunnerError(
            f"--function {spec}: give NAME or NAME:QUALIFIER (an alias such as live, or a "
            "version number), e.g. --function my-function:live"
        )
    return name, qualifier or None


def resolve_function(clients: Clients, spec: str) -> Target:
    """The function's :class:`Target` (no state machine yet), or one line saying it does not
    exist: checked before anything is deployed or started."""
    name, qualifier = parse_function(spec)
    where = f"{clients.region}{' at ' + clients.endpoint_url if clients.endpoint_url else ''}"
    try:
        config: Any = clients.lambda_.get_function_configuration(
            FunctionName=name, **({"Qualifier": qualifier} if qualifier else {})
        )
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            what = f"function '{name}'" + (f" with qualifier '{qualifier}'" if qualifier else "")
            raise RunnerError(
                f"{what} does not exist in {where}: check the name and alias (aws lambda "
                "list-functions, list-aliases), or --region/--endpoint-url"
            ) from None
        raise as_runner_error(error, f"reading function '{name}'") from None
    except BotoCoreError as error:
        raise as_runner_error(error, f"reading function '{name}'") from None
    function_name = str(config["FunctionName"])
    # the qualifier as the user named it (an alias's ARN may come back as its version's)
    arn = ":".join(str(config["FunctionArn"]).split(":")[:7])
    if qualifier:
        arn = f"{arn}:{qualifier}"
    return Target("function", "", function_name, arn, run=function_name)


def load_input(run_input: ExecutionInput, target: Target, payload: Any) -> ExecutionInput:
    """The items, plus what the load generator reads: the function to call and the event."""
    document = {**run_input.document, "functionArn": target.alias_arn, "payload": payload}
    made = ExecutionInput(document, run_input.origin)
    # every execution carries the payload (a run too big for one is split, pclab/cloud/parts.py)
    one = ExecutionInput({**document, "items": run_input.items[:1]}, run_input.origin)
    if len(one.stamped(0.0).text.encode("utf-8")) > PAYLOAD_LIMIT_BYTES:
        raise RunnerError(
            f"--payload with one item of {run_input.origin} is larger than Step Functions' "
            "256 KiB execution input: use a smaller --payload"
        )
    return made


def _stack(clients: Clients) -> dict[str, Any] | None:
    try:
        reply: Any = clients.cloudformation.describe_stacks(StackName=STACK_NAME)
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in error_message(error):
            return None
        raise as_runner_error(error, f"reading stack {STACK_NAME}") from None
    except BotoCoreError as error:
        raise as_runner_error(error, f"reading stack {STACK_NAME}") from None
    stacks = reply.get("Stacks") or []
    return dict(stacks[0]) if stacks else None


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}


def ensure(clients: Clients, pattern: str = "*", *, show: Any = None) -> Stack:
    """The load generator's stack, created or updated if needed (``show(text)``: progress).

    A creation that fails is deleted before the error is raised (nothing is left half-made),
    and so is one interrupted with Ctrl-C.
    """
    text = template_text()
    version = template_version(text)
    found = _stack(clients)
    if found is not None and str(found.get("StackStatus")) in ("ROLLBACK_COMPLETE",):
        _delete(clients)  # a failed first creation: it can only be deleted
        found = None
    parameters = [
        {"ParameterKey": "FunctionNamePattern", "ParameterValue": pattern},
        {"ParameterKey": "TemplateVersion", "ParameterValue": version},
    ]
    current = {
        p["ParameterKey"]: p.get("ParameterValue") for p in (found or {}).get("Parameters", [])
    }
    same = all(
        current.get(key) == value
        for key, value in (("TemplateVersion", version), ("FunctionNamePattern", pattern))
    )
    if found is not None and str(found.get("StackStatus")) in READY and same:
        return _as_stack(found)
    request: Any = {
        "StackName": STACK_NAME,
        "TemplateBody": text,
        "Parameters": parameters,
        "Capabilities": ["CAPABILITY_IAM"],
    }
    creating = found is None
    if show is not None:
        show(f"{'Creating' if creating else 'Updating'} the load generator stack {STACK_NAME}")
    try:
        if creating:
            clients.cloudformation.create_stack(**request)
        else:
            clients.cloudformation.update_stack(**request)
        done = _wait(clients, creating)
    except KeyboardInterrupt:
        if creating:
            _delete(clients)
        raise
    except (ClientError, BotoCoreError) as error:
        if creating:
            _delete(clients)
        raise as_runner_error(error, f"deploying stack {STACK_NAME}") from None
    return _as_stack(done)


def _wait(clients: Clients, creating: bool) -> dict[str, Any]:
    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    while True:
        found = _stack(clients) or {}
        status = str(found.get("StackStatus", ""))
        if status in READY and not (creating and status != "CREATE_COMPLETE"):
            return found
        if status.endswith("_FAILED") or "ROLLBACK" in status or time.monotonic() > deadline:
            if status.endswith("IN_PROGRESS") and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            reason = _failure(clients) or status or "no answer"
            if creating:
                _delete(clients)
            raise RunnerError(
                f"the load generator stack {STACK_NAME} could not be "
                f"{'created (deleted again)' if creating else 'updated'}: {reason}; check that "
                "your credentials may create IAM roles and state machines, then run again"
            )
        time.sleep(0.5)


def _failure(clients: Clients) -> str | None:
    try:
        events: Any = clients.cloudformation.describe_stack_events(StackName=STACK_NAME)
    except (ClientError, BotoCoreError):
        return None
    for event in events.get("StackEvents", []):
        if str(event.get("ResourceStatus", "")).endswith("_FAILED"):
            return f"{event.get('LogicalResourceId')}: {event.get('ResourceStatusReason')}"
    return None


def _delete(clients: Clients) -> None:
    try:
        clients.cloudformation.delete_stack(StackName=STACK_NAME)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = _stack(clients)
            if found is None or found.get("StackStatus") == "DELETE_COMPLETE":
                return
            time.sleep(0.5)
    except (ClientError, BotoCoreError, RunnerError):
        return


def _as_stack(found: dict[str, Any]) -> Stack:
    outputs = _outputs(found)
    if not outputs.get("LoadGeneratorArn"):
        raise RunnerError(
            f"stack {STACK_NAME} lacks its LoadGeneratorArn output: delete it (aws "
            f"cloudformation delete-stack --stack-name {STACK_NAME}) and run again"
        )
    return Stack(STACK_NAME, str(found.get("StackStatus", "")), outputs, dict(PARAMETERS), ())


def function_stack(clients: Clients, target: Target, loadgen: Stack) -> Stack:
    """The stack the runner runs: the load generator's, with the function as its one target."""
    aimed = Target(
        target.label,
        loadgen.outputs["LoadGeneratorArn"],
        target.function_name,
        target.alias_arn,
        run=target.run,
    )
    return Stack(loadgen.name, loadgen.status, loadgen.outputs, loadgen.parameters, (aimed,))


def where(clients: Clients) -> str:
    return "the local cloud" if is_local(clients.endpoint_url) else f"AWS ({clients.region})"


def payload_document(text: str | None, origin: str) -> Any:
    """The ``--payload`` file's JSON (the event every call gets), or ``{}``."""
    if text is None:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RunnerError(
            f"--payload {origin} is not JSON ({error.msg} at line {error.lineno}): give the "
            "event the function expects, as a JSON file"
        ) from None
