"""Read what a deployed stack says about the experiment: its outputs, parameters and functions.

The six output keys are a contract with ``template.yaml`` (COMMON.md); a stack that lacks one
was not deployed from this template (or an old version of it), and the error says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from pclab.cloud.aws import Clients
from pclab.cloud.errors import RunnerError, as_runner_error, error_code, error_message

# (label, state machine output, function name output, alias ARN output), in the sample's order.
TARGET_OUTPUTS = (
    (
        "reserved",
        "BaseConcurrencyTestStateMachineArn",
        "BaseConcurrencyTestFunctionName",
        "BaseConcurrencyTestFunctionAliasArn",
    ),
    (
        "provisioned",
        "ProvisionedConcurrencyTestStateMachineArn",
        "ProvisionedConcurrencyTestFunctionName",
        "ProvisionedConcurrencyTestFunctionAliasArn",
    ),
)
REQUIRED_OUTPUTS = tuple(key for target in TARGET_OUTPUTS for key in target[1:])
# The third arm, when the stack has it (SnapStartArm: on python3.12 and later only).
OPTIONAL_TARGET_OUTPUTS = (
    (
        "snapstart",
        "SnapStartConcurrencyTestStateMachineArn",
        "SnapStartConcurrencyTestFunctionName",
        "SnapStartConcurrencyTestFunctionAliasArn",
    ),
)


@dataclass(frozen=True)
class Target:
    """One state machine of the experiment and the function alias it invokes."""

    label: str  # "reserved" | "provisioned" | "snapstart" | "function" (pclab run --function)
    state_machine_arn: str
    function_name: str
    alias_arn: str
    # The run's name in the report and raw/ (None: the state machine's). The load generator
    # serves every function, so its runs are named after the function they measure.
    run: str | None = None

    @property
    def state_machine_name(self) -> str:
        return self.state_machine_arn.rsplit(":", 1)[-1]

    @property
    def run_name(self) -> str:
        return self.run or self.state_machine_name

    @property
    def qualifier(self) -> str | None:
        """The alias the state machine names ("live"): the last part of a qualified ARN."""
        parts = self.alias_arn.split(":")
        return parts[7] if len(parts) >= 8 else None


@dataclass(frozen=True)
class Stack:
    name: str
    status: str
    outputs: dict[str, str]
    parameters: dict[str, str]
    targets: tuple[Target, ...]

    def parameter_int(self, key: str) -> int | None:
        try:
            return int(self.parameters[key])
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class FunctionFacts:
    """What Lambda says about the function behind a target (None where it would not say)."""

    memory_mb: int | None = None
    provisioned_concurrency: int | None = None  # requested PC on the alias; 0 = none configured
    log_group: str | None = None
    log_format: str = "Text"  # "Text" | "JSON": decides the REPORT filter pattern
    note: str | None = None


def read_stack(clients: Clients, name: str) -> Stack:
    """The stack's outputs as :class:`Target` s, or one clear :class:`RunnerError`."""
    try:
        reply = clients.cloudformation.describe_stacks(StackName=name)
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in error_message(error):
            why = ""
            if is_local(clients.endpoint_url):
                # the usual cause there: the local cloud was restarted after the deploy
                why = (
                    " (a local cloud keeps no state across restarts: after `pclab local-cloud "
                    "start`, package and deploy again)"
                )
            raise RunnerError(
                f"stack '{name}' does not exist in {clients.region}"
                f"{' at ' + clients.endpoint_url if clients.endpoint_url else ''}: deploy it with "
                f"./sam-deploy.sh {name} packaged.yaml, or check --stack and --region{why}"
            ) from None
        raise as_runner_error(error, f"reading stack '{name}'") from None
    except BotoCoreError as error:
        raise as_runner_error(error, f"reading stack '{name}'") from None
    stacks = reply.get("Stacks", [])
    if not stacks:
        raise RunnerError(f"stack '{name}' does not exist in {clients.region}")
    stack: Any = stacks[0]
    status = str(stack.get("StackStatus", ""))
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
    parameters = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
    }
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        state = f" (stack status {status})" if status else ""
        raise RunnerError(
            f"stack '{name}' lacks the output(s) {', '.join(missing)}{state}: deploy this "
            "project's template.yaml to it (./sam-package.sh, then ./sam-deploy.sh)"
        )
    targets = tuple(
        Target(label, outputs[machine], outputs[function], outputs[alias])
        for label, machine, function, alias in TARGET_OUTPUTS + OPTIONAL_TARGET_OUTPUTS
        if all(outputs.get(key) for key in (machine, function, alias))
    )
    return Stack(name, status, outputs, parameters, targets)


def is_local(endpoint_url: str | None) -> bool:
    """An endpoint on this machine (the local cloud, or another emulator): not AWS."""
    host = urlsplit(endpoint_url).hostname if endpoint_url else None
    return host in ("localhost", "127.0.0.1", "::1")


def function_facts(clients: Clients, target: Target) -> FunctionFacts:
    """Memory, configured PC and log group of the target's alias; never raises.

    WHY never: these only refine the report (cost, spillover); a missing permission must not stop
    a run that already has its outputs. What could not be read is said in ``note``.
    """
    notes: list[str] = []
    memory: int | None = None
    log_group: str | None = None
    log_format = "Text"
    try:
        config: Any = clients.lambda_.get_function_configuration(
            FunctionName=target.function_name, Qualifier=target.qualifier or "$LATEST"
        )
        memory = int(config["MemorySize"]) if config.get("MemorySize") else None
        logging = config.get("LoggingConfig") or {}
        log_group = logging.get("LogGroup") or None
        log_format = str(logging.get("LogFormat") or "Text")
    except (ClientError, BotoCoreError) as error:
        notes.append(f"function configuration not read ({_short(error)})")
    provisioned: int | None = None
    if target.qualifier:
        try:
            pc: Any = clients.lambda_.get_provisioned_concurrency_config(
                FunctionName=target.function_name, Qualifier=target.qualifier
            )
            provisioned = int(pc.get("RequestedProvisionedConcurrentExecutions") or 0)
        except ClientError as error:
            if error_code(error) == "ProvisionedConcurrencyConfigNotFoundException":
                provisioned = 0
            else:
                notes.append(f"provisioned concurrency not read ({_short(error)})")
        except BotoCoreError as error:
            notes.append(f"provisioned concurrency not read ({_short(error)})")
    return FunctionFacts(
        memory_mb=memory,
        provisioned_concurrency=provisioned,
        log_group=log_group or f"/aws/lambda/{target.function_name}",
        log_format=log_format,
        note="; ".join(notes) or None,
    )


def _short(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error_code(error) or type(error).__name__
    return type(error).__name__
