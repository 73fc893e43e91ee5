"""Stack outputs, unknown stacks, missing outputs and missing credentials: one line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from pclab.cli import main
from pclab.cloud.aws import Clients, make_clients
from pclab.cloud.errors import NO_CREDENTIALS, RunnerError
from pclab.cloud.stack import read_stack

from .conftest import create_stack, experiment_outputs

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:"


def test_outputs_become_targets_in_the_samples_order(clients: Clients) -> None:
    outputs = experiment_outputs(MACHINE + "Base-1", MACHINE + "Provisioned-2")
    create_stack(clients, "pclab", outputs)
    stack = read_stack(clients, "pclab")
    assert [t.label for t in stack.targets] == ["reserved", "provisioned"]
    reserved, provisioned = stack.targets
    assert reserved.state_machine_name == "Base-1"
    assert provisioned.function_name == "pc-fn"
    assert provisioned.qualifier == "live"


def test_the_snapstart_arm_is_a_third_target_when_the_stack_has_it(clients: Clients) -> None:
    outputs = experiment_outputs(MACHINE + "Base-1", MACHINE + "Provisioned-2")
    outputs |= {
        "SnapStartConcurrencyTestStateMachineArn": MACHINE + "SnapStart-3",
        "SnapStartConcurrencyTestFunctionName": "snap-fn",
        "SnapStartConcurrencyTestFunctionAliasArn": (
            "arn:aws:lambda:us-east-1:123456789012:function:snap-fn:live"
        ),
    }
    create_stack(clients, "three", outputs)
    stack = read_stack(clients, "three")
    assert [t.label for t in stack.targets] == ["reserved", "provisioned", "snapstart"]
    assert stack.targets[2].state_machine_name == "SnapStart-3"
    assert stack.targets[2].qualifier == "live"


def test_unknown_stack_names_it_and_the_fix(clients: Clients) -> None:
    with pytest.raises(RunnerError) as caught:
        read_stack(clients, "nope")
    message = str(caught.value)
    assert "stack 'nope' does not exist in us-east-1" in message
    assert "sam-deploy.sh nope" in message


def test_missing_outputs_are_listed(clients: Clients) -> None:
    outputs = experiment_outputs(MACHINE + "Base-1", MACHINE + "Provisioned-2")
    del outputs["ProvisionedConcurrencyTestFunctionAliasArn"]
    del outputs["BaseConcurrencyTestStateMachineArn"]
    create_stack(clients, "old", outputs)
    with pytest.raises(RunnerError) as caught:
        read_stack(clients, "old")
    message = str(caught.value)
    assert "lacks the output(s) BaseConcurrencyTestStateMachineArn, " in message
    assert "ProvisionedConcurrencyTestFunctionAliasArn" in message
    assert "BaseConcurrencyTestFunctionName" not in message


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.mark.usefixtures("no_credentials")
def test_no_credentials_is_one_line() -> None:
    with pytest.raises(RunnerError) as caught:
        make_clients("us-east-1")
    assert str(caught.value) == NO_CREDENTIALS


@pytest.mark.usefixtures("no_credentials")
def test_cli_without_credentials_exits_non_zero_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", "--stack", "pclab", "--items", "3", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert err == [f"pclab: error: {NO_CREDENTIALS}"]


def test_cli_unknown_stack_exits_non_zero_with_one_line(
    clients: Clients, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", "--stack", "ghost", "--items", "3", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert len(err) == 1 and "stack 'ghost' does not exist" in err[0]
