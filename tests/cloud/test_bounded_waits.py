"""Nothing waits forever (issue 13): an endpoint that stops answering ends the wait in bounded
time, with one line naming it, what was collected saved and the report marked incomplete.

Real endpoints over real sockets: a port nobody listens on (connection refused), a socket that
accepts and never answers (timeouts), a moto server stopped in the middle of a run, and the real
sam-deploy.sh with a SAM CLI that never returns.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from pclab.cli import main
from pclab.cloud import executions
from pclab.cloud.aws import make_clients
from pclab.cloud.endpoint import EndpointLost
from pclab.cloud.executions import Execution
from pclab.cloud.stack import Target

from .conftest import ROLE, WAITING_MACHINE, experiment_outputs

ROOT = Path(__file__).resolve().parents[2]
BOUND = 2.0
# the bound, plus one blocked attempt (read timeout: 2 s at this bound), plus slack for a
# loaded 2-core machine: 2.2-3.1 s here even beside four busy processes, but 8.0 s once in a
# two-worker suite whose other worker was starting 150 environments. Without the bound, boto3's
# own retries wait minutes.
LATEST = BOUND + 2.0 + 6.0
ARN = "arn:aws:states:us-east-1:123456789012:execution:Machine:run-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def silent_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """``refused``: nothing listens; ``hung``: the kernel accepts, nobody ever answers."""
    if request.param == "refused":
        yield f"http://127.0.0.1:{free_port()}"
        return
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        yield f"http://127.0.0.1:{hung.getsockname()[1]}"


def fake_execution() -> Execution:
    target = Target(
        "reserved",
        "arn:aws:states:us-east-1:123456789012:stateMachine:Machine",
        "fn",
        "arn:aws:lambda:us-east-1:123456789012:function:fn:live",
    )
    return Execution(target=target, name="run-1", arn=ARN, items=3, started_at=time.time())


@pytest.mark.parametrize("silent_endpoint", ["refused", "hung"], indirect=True)
def test_waiting_on_a_silent_endpoint_ends_within_the_bound(
    silent_endpoint: str, aws_env: None
) -> None:
    clients = make_clients("us-east-1", silent_endpoint, endpoint_timeout=BOUND)
    started = time.monotonic()
    with pytest.raises(EndpointLost) as lost:
        executions.wait(clients, [fake_execution()], poll_seconds=0.1)
    took = time.monotonic() - started
    assert BOUND <= took <= LATEST, took
    message = str(lost.value)
    assert message.startswith(f"the endpoint {silent_endpoint} stopped answering while ")
    assert "waiting for run-1 (DescribeExecution)" in message
    assert "\n" not in message


def test_expired_credentials_end_the_wait_at_once(aws_env: None) -> None:
    clients = make_clients("us-east-1", "http://127.0.0.1:9", endpoint_timeout=BOUND)
    with Stubber(clients.stepfunctions) as stub:
        stub.add_client_error(
            "describe_execution",
            service_error_code="ExpiredTokenException",
            service_message="The security token included in the request is expired",
            http_status_code=400,
        )
        started = time.monotonic()
        with pytest.raises(EndpointLost) as lost:
            executions.wait(clients, [fake_execution()], poll_seconds=0.1)
    assert time.monotonic() - started < 1.0
    assert str(lost.value) == (
        "AWS rejected the credentials while following run-1 (ExpiredTokenException): refresh them"
    )


@pytest.fixture
def moto_server(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        yield server, url
    finally:
        server.stop()


def test_run_gives_up_a_dead_endpoint_saves_what_it_has_and_says_so(
    moto_server: tuple[Any, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The endpoint dies while the first execution runs (moto never ends it: it would wait
    forever): one line, exit 1 within the bound, report.json marked incomplete."""
    server, url = moto_server
    sfn = boto3.client("stepfunctions")
    machines = [
        sfn.create_state_machine(name=n, definition=json.dumps(WAITING_MACHINE), roleArn=ROLE)[
            "stateMachineArn"
        ]
        for n in ("BoundBase", "BoundProvisioned")
    ]
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {k: {"Value": v} for k, v in experiment_outputs(*machines).items()},
    }
    boto3.client("cloudformation").create_stack(
        StackName="bounded", TemplateBody=json.dumps(template)
    )
    killed_at: list[float] = []

    def kill_when_started() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sfn.list_executions(stateMachineArn=machines[0])["executions"]:
                time.sleep(0.5)  # a few polls answered first
                killed_at.append(time.monotonic())
                server.stop()  # stops serving: requests now wait unanswered
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_when_started, daemon=True)
    killer.start()
    out = tmp_path / "report"
    status = main(
        [
            "run", "--stack", "bounded", "--items", "3", "--out", str(out), "--no-charts",
            "--endpoint-timeout", str(BOUND), "--source-wait", "1",
        ]
    )  # fmt: skip
    ended = time.monotonic()
    killer.join(5)
    assert status == 1
    # the bound, then one StopExecution attempt that gets no answer either (measured 2.2-5.4 s;
    # 9.5 s once in a two-worker suite beside tests running 150 environments)
    assert killed_at and ended - killed_at[0] <= LATEST + 2.0, ended - killed_at[0]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"pclab: error: the endpoint {url} stopped answering while waiting")
    assert f"saved what was collected under {out}/ (report marked incomplete)" in err[0]
    report = json.loads((out / "report.json").read_text())
    incomplete = report["incomplete"]
    assert incomplete["reason"].startswith(f"the endpoint {url} stopped answering")
    assert [e.split(" ", 1)[1] for e in incomplete["executions"]] == [
        "(reserved): RUNNING",
        "(provisioned): not started",
    ]
    assert incomplete["sources"] == [
        "execution-history BoundBase",
        "xray BoundBase",
        "logs base-fn",
        "metrics base-fn",
    ]
    # what was collected is there: the last DescribeExecution reply of the running execution
    described = json.loads((out / "raw/BoundBase/describe-execution.json").read_text())
    assert described["status"] == "RUNNING"


def test_sam_deploy_gives_up_after_its_bound(tmp_path: Path) -> None:
    """A SAM CLI that never returns (an endpoint that stopped answering mid-deploy)."""
    fake_sam = tmp_path / "sam"
    fake_sam.write_text("#!/usr/bin/env bash\nexec sleep 60\n")  # sam deploy starts no child
    fake_sam.chmod(fake_sam.stat().st_mode | stat.S_IEXEC)
    packaged = tmp_path / "packaged.yaml"
    packaged.write_text("Resources: {}\n")
    env = {
        **os.environ,
        "PCLAB_SAM": str(fake_sam),
        "PCLAB_SAM_TIMEOUT": "1",
        "AWS_ENDPOINT_URL": "http://localhost:4599",
    }
    started = time.monotonic()
    done = subprocess.run(
        [str(ROOT / "sam-deploy.sh"), "pclab", str(packaged)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert time.monotonic() - started < 5
    assert done.returncode == 124
    assert done.stderr.strip() == (
        "sam-deploy.sh: sam deploy did not finish within 1 s (PCLAB_SAM_TIMEOUT): is "
        "http://localhost:4599 still answering? The stack may still be changing: look at it "
        "with aws cloudformation describe-stacks before deploying again"
    )


def test_a_bad_bound_is_refused(tmp_path: Path) -> None:
    packaged = tmp_path / "packaged.yaml"
    packaged.write_text("Resources: {}\n")
    done = subprocess.run(
        [str(ROOT / "sam-deploy.sh"), "pclab", str(packaged)],
        env={**os.environ, "PCLAB_SAM": "true", "PCLAB_SAM_TIMEOUT": "soon"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "sam-deploy.sh: PCLAB_SAM_TIMEOUT=soon is not a whole number of seconds",
    )
    assert main(["run", "--stack", "x", "--endpoint-timeout", "0"]) == 1


def test_a_script_is_ended_whole_when_the_endpoint_is_lost(tmp_path: Path) -> None:
    """pclab demo's deploy: the script (and what it started) ends once the probe gives up."""
    from rich.console import Console
    from rich.progress import Progress

    from pclab.cloud.errors import RunnerError
    from pclab.cloud.scripts import run_script

    script = tmp_path / "sam-deploy.sh"
    marker = tmp_path / "child.pid"
    # a child that would outlive its parent unless the whole process group is ended
    script.write_text(f"#!/usr/bin/env bash\nsleep 60 &\necho $! > {marker}\necho waiting\nwait\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    probes: list[float] = []

    def alive() -> None:
        probes.append(time.monotonic())
        if len(probes) == 2:
            raise EndpointLost("the endpoint http://localhost:9 stopped answering while deploying")

    started = time.monotonic()
    with (
        open(os.devnull, "w") as quiet,
        Progress(console=Console(file=quiet)) as progress,
        pytest.raises(RunnerError) as failed,
    ):
        run_script(
            [str(script)],
            cwd=tmp_path,
            env=dict(os.environ),
            log_path=tmp_path / "deploy.log",
            progress=progress,
            description="deploy",
            alive=alive,
            probe_seconds=0.2,
        )
    assert time.monotonic() - started < 5
    assert str(failed.value) == (
        "the endpoint http://localhost:9 stopped answering while deploying; sam-deploy.sh was "
        f"stopped; log: {tmp_path / 'deploy.log'}"
    )
    child = int(marker.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text()
    assert (tmp_path / "deploy.log").read_text() == "waiting\n"


def test_silence_counts_from_the_first_unanswered_request_not_from_the_clients() -> None:
    """A runner that spent minutes elsewhere (a deploy) before its first call is given the
    whole bound to reach the endpoint, and an answer resets it."""
    from botocore.exceptions import EndpointConnectionError

    from pclab.cloud.endpoint import EndpointWatch

    now = [0.0]
    watch = EndpointWatch("http://x", timeout_seconds=2.0, clock=lambda: now[0])
    refused = EndpointConnectionError(endpoint_url="http://x")
    now[0] = 300.0  # the clients were made five minutes ago
    watch.sending()
    assert watch.on_attempt(caught_exception=refused) == 0.5  # retried, not lost
    now[0] = 301.9
    watch.sending()
    assert watch.on_attempt(caught_exception=refused, attempts=2) == pytest.approx(0.1)
    now[0] = 302.0
    watch.sending()
    with pytest.raises(EndpointLost, match="no answer for 2 s"):
        watch.on_attempt(caught_exception=refused, attempts=3)
    answered = EndpointWatch("http://x", timeout_seconds=2.0, clock=lambda: now[0])
    answered.sending()
    answered.on_attempt(caught_exception=refused)
    now[0] = 310.0
    answered.sending()
    answered.on_attempt(response=(type("R", (), {"status_code": 200})(), {}))
    assert answered.silent_seconds() == 0.0
