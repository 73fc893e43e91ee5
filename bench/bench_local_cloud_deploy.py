"""Benchmark: local cloud start to ready, and sam package + sam deploy of the sample into it.

Goals (issue 3, this 2-core machine): start to ready <= 3 s; package + deploy <= 10 s.
Runs the real CLI and the real scripts by subprocess, as a user would; prints one line per number.
Each run packages twice into its own build folder: first with no build cache (sam build installs
functions/requirements.txt from PyPI), then again as a user repeats it (sam build --cached reuses
those dependencies).

    .venv/bin/python bench/bench_local_cloud_deploy.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pclab.localcloud.server import free_port  # noqa: E402

START_GOAL_S = 3.0
DEPLOY_GOAL_S = 10.0


def run(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def wait_ready(port: int, deadline_s: float = 30) -> None:
    end = time.perf_counter() + deadline_s
    while time.perf_counter() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/data.json", timeout=1):
                return
        except OSError:
            time.sleep(0.01)
    sys.exit("local cloud did not answer")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used: less sensitive to a busy machine than wall."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(tmp: Path, index: int) -> tuple[float, float, float, float, float, float, float]:
    port = free_port()
    env = {
        **os.environ,
        "PCLAB_STATE_DIR": str(tmp / f"state{index}"),
        "AWS_ENDPOINT_URL": f"http://localhost:{port}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_POLL_DELAY": "0.2",
        # a folder of its own per run: its build cache (kept beside the build folder) starts empty
        "PCLAB_BUILD_DIR": str(tmp / f"run{index}" / "build"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    pclab = [sys.executable, "-m", "pclab.cli", "local-cloud"]
    # start to ready: the CLI returns once the server answers HTTP
    started = time.perf_counter()
    server = subprocess.Popen(
        [*pclab, "start", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    wait_ready(port)
    ready = time.perf_counter() - started
    ready_cpu = cpu_seconds(server.pid)
    try:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket="bench-artifacts")
        packaged = str(tmp / f"packaged{index}.yaml")
        package = run(["./sam-package.sh", "template.yaml", packaged, "bench-artifacts"], env)
        repackage = run(["./sam-package.sh", "template.yaml", packaged, "bench-artifacts"], env)
        # sam package alone, of what sam build wrote (the script runs sam build first)
        sam = str(Path(sys.executable).parent / "sam")
        built = str(tmp / f"run{index}" / "build" / "template.yaml")
        repackaged = str(tmp / f"repackaged{index}.yaml")
        package_only = run(
            [
                sam,
                "package",
                "--template-file",
                built,
                "--s3-bucket",
                "bench-artifacts",
                "--output-template-file",
                repackaged,
                "--force-upload",
            ],
            env,
        )
        deploy_command = [
            "./sam-deploy.sh",
            "pclab-bench",
            packaged,
            "--parameter-overrides",
            "ProvisionedConcurrency=2",
            "ColdStartDelaySeconds=0",
        ]
        deploy = run(deploy_command, env)
        redeploy = run(deploy_command, env)  # the same again: measures a no-op deploy
        run(["./sam-delete.sh", "pclab-bench"], env)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return ready, package, deploy, redeploy, ready_cpu, package_only, repackage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    results = []
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before: {load} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.runs):
            results.append(one_run(Path(folder), index))
    for label, position, goal in (
        ("local cloud start to ready", 0, START_GOAL_S),
        ("./sam-package.sh, first (no cache)", 1, None),
        ("./sam-package.sh, repeated (cached)", 6, None),
        ("sam package alone (built template)", 5, None),
        ("sam deploy (create, PC 2 READY)", 2, None),
        ("sam deploy again (no changes)", 3, None),
    ):
        values = [r[position] for r in results]
        verdict = (
            f"  goal <= {goal:.0f} s: {'met' if max(values) <= goal else 'MISSED'}" if goal else ""
        )
        print(
            f"{label:38s} median {statistics.median(values):6.2f} s  "
            f"max {max(values):6.2f} s{verdict}"
        )
    cpu = [r[4] for r in results]
    print(f"{'local cloud start, CPU used to ready':38s} median {statistics.median(cpu):6.2f} s")
    for label, totals in (
        ("sam package + sam deploy", [r[5] + r[2] for r in results]),
        ("scripts, first (no build cache)", [r[1] + r[2] for r in results]),
        ("scripts, repeated (cached build)", [r[6] + r[2] for r in results]),
    ):
        verdict = "met" if max(totals) <= DEPLOY_GOAL_S else "MISSED"
        print(
            f"{label:38s} median {statistics.median(totals):6.2f} s  "
            f"max {max(totals):6.2f} s  goal <= {DEPLOY_GOAL_S:.0f} s: {verdict}"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
