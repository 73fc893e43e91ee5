"""`pclab local-cloud start/stop/status` as a user runs them: real processes, real ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from pclab.localcloud.server import free_port

pytestmark = pytest.mark.slow


def pclab(state: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pclab.cli", "local-cloud", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PCLAB_STATE_DIR": str(state)},
    )


def running(pid: int) -> bool:
    """Still running (an exited server waiting for init to reap it is a zombie: not running)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] not in ("Z", "X")


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "state"
    yield directory
    pid_file = directory / "local-cloud.pid"
    if pid_file.exists():  # never leave a server behind, whatever the test did
        pclab(directory, "stop")


def test_detached_start_status_stop(state: Path) -> None:
    port = free_port()
    started = pclab(state, "start", "--detach", "--port", str(port))
    assert started.returncode == 0, started.stderr
    exports = (
        f"export AWS_ENDPOINT_URL=http://localhost:{port} AWS_DEFAULT_REGION=us-east-1 "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
    )
    assert exports in started.stdout
    assert "Lambda execution environments: on" in started.stdout
    record = json.loads((state / "local-cloud.pid").read_text())
    assert record["port"] == port
    assert (state / "local-cloud.log").exists()

    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://localhost:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="proof-it-answers")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["proof-it-answers"]

    status = pclab(state, "status")
    assert status.returncode == 0 and f"pid {record['pid']}" in status.stdout

    second = pclab(state, "start", "--detach", "--port", str(free_port()))
    assert second.returncode == 1
    assert second.stderr.strip() == (
        f"pclab: error: a local cloud is already running (pid {record['pid']}, port {port}); "
        "stop it first with `pclab local-cloud stop`"
    )

    stopped = pclab(state, "stop")
    assert stopped.returncode == 0 and f"pid {record['pid']}" in stopped.stdout
    assert not (state / "local-cloud.pid").exists()
    assert not running(record["pid"])
    after = pclab(state, "status")
    assert (after.returncode, after.stdout.strip()) == (3, "No local cloud is running.")
    again = pclab(state, "stop")
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f"pclab: error: no local cloud is running (no pid file in {state}): nothing to stop; "
        "one started with another PCLAB_STATE_DIR is stopped with that setting"
    )


def test_port_in_use_is_one_clear_line(state: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = pclab(state, "start", "--detach", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"pclab: error: port {port} is in use by another program; choose another with --port"
    )
    assert not (state / "local-cloud.pid").exists()


def test_stale_pid_file_is_reported_and_replaced(state: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state.mkdir(parents=True)
    (state / "local-cloud.pid").write_text(json.dumps({"pid": dead.pid, "port": 1}))
    stop = pclab(state, "stop")
    assert stop.returncode == 1
    assert stop.stderr.strip() == (
        "pclab: error: no local cloud is running (removed a stale pid file naming process "
        f"{dead.pid})"
    )
    (state / "local-cloud.pid").write_text(json.dumps({"pid": dead.pid, "port": 1}))
    started = pclab(state, "start", "--detach", "--port", str(free_port()))
    assert started.returncode == 0
    assert f"removed a stale pid file (process {dead.pid} is gone)" in started.stderr
    assert json.loads((state / "local-cloud.pid").read_text())["pid"] != dead.pid


def test_foreground_start_prints_exports_and_stops_on_sigterm(state: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pclab.cli", "local-cloud", "start", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PCLAB_STATE_DIR": str(state)},
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(3)]
        assert lines[0].startswith(f"Local cloud ready at http://localhost:{port} in ")
        assert lines[1].startswith("Lambda execution environments: ")
        assert lines[2].startswith(f"export AWS_ENDPOINT_URL=http://localhost:{port} ")
        deadline = time.monotonic() + 10  # the pid file is written just after these lines
        while pclab(state, "status").returncode != 0:
            assert time.monotonic() < deadline, "status never saw the foreground server"
            time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    assert not (state / "local-cloud.pid").exists()


def test_bad_arguments_are_refused(state: Path) -> None:
    result = pclab(state, "start", "--port", "70000")
    assert (result.returncode, result.stderr.strip()) == (
        1,
        "pclab: error: --port 70000 is not a port number (1-65535)",
    )


def test_private_cloud_runs_for_the_block_and_stops_even_on_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `pclab demo` relies on: its own state folder, the user's setting back afterwards."""
    from pclab.localcloud import server

    monkeypatch.setenv("PCLAB_STATE_DIR", str(tmp_path / "users"))
    directory = tmp_path / "private"
    port = free_port()
    with (
        pytest.raises(RuntimeError, match="the caller failed"),
        server.private_cloud(port, directory) as record,
    ):
        assert record.port == port and running(record.pid)
        assert server.status() == (record, True)
        assert (directory / "local-cloud.log").is_file()
        raise RuntimeError("the caller failed")
    assert not running(record.pid)
    assert not (directory / "local-cloud.pid").exists()
    assert os.environ["PCLAB_STATE_DIR"] == str(tmp_path / "users")
