"""The demo's cloud side: bucket, ``./sam-package.sh``, ``./sam-deploy.sh``, then :func:`run.run`.

It is given an endpoint URL and never learns what answers there: the CLI starts the local cloud
and hands its URL over (DESIGN.md: the runner reaches the local cloud over HTTP, like AWS). The
two scripts run as the user would run them, by subprocess, with the environment pointing at the
endpoint; their output goes to a log file and the last line shows in the progress bar.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from pclab.cloud import parts
from pclab.cloud import run as runner
from pclab.cloud.aws import Clients, make_clients
from pclab.cloud.collect import PollPolicy
from pclab.cloud.endpoint import DEFAULT_TIMEOUT_SECONDS, EndpointLost
from pclab.cloud.errors import RunnerError, as_runner_error, error_code
from pclab.cloud.input import ExecutionInput, arrival_problem, arrival_span
from pclab.cloud.scripts import run_script
from pclab.cloud.snapstart_python import find_python312, link_dir

REGION = "us-east-1"
DUMMY_CREDENTIALS = ("testing", "testing")
PROJECT_FILES = ("template.yaml", "sam-package.sh", "sam-deploy.sh", "sample-test-input.json")
# The original sample's Map: an inline Map, which runs at most 40 items at once (waves of 40:
# the first cold, the rest warm). The template's default LoadMode is a Distributed Map (all items
# at once); sam deploy ignores an override of a parameter a template does not have. A user's own
# LoadMode override wins.
DEFAULT_OVERRIDES = ("LoadMode=INLINE",)
# What sam-package.sh / sam-deploy.sh may take on the local cloud, whatever happens (a deploy of
# 150 provisioned environments takes under a minute here): the scripts' own bound.
SCRIPT_TIMEOUT_SECONDS = 900.0


# Items that arrive over time (startAfterSeconds) need every item admitted at once: a waiting
# item holds a slot of the Map (input.arrival_problem), so the demo deploys the Distributed Map.
ARRIVAL_OVERRIDES = ("LoadMode=DISTRIBUTED",)


def parameter_overrides(given: Sequence[str], *, arrivals: bool = False) -> tuple[str, ...]:
    """``given`` plus the defaults whose key it does not set."""
    keys = {item.split("=", 1)[0] for item in given}
    chosen = ARRIVAL_OVERRIDES if arrivals else DEFAULT_OVERRIDES
    defaults = [item for item in chosen if item.split("=", 1)[0] not in keys]
    return (*given, *defaults)


def check_overrides(given: Sequence[str], run_input: ExecutionInput) -> None:
    """One :class:`RunnerError` line, before anything starts, when the overrides would make the
    items arrive late (LoadMode=INLINE, or MapMaxConcurrency below the item count), or cap
    each of the several executions a large run needs."""
    values = dict(item.split("=", 1) for item in given if "=" in item)
    try:
        max_concurrency = int(values.get("MapMaxConcurrency", "0"))
    except ValueError:
        return  # sam deploy refuses it with the template's own message
    load_mode = values.get("LoadMode", "DISTRIBUTED")
    problem = arrival_problem(run_input, load_mode, max_concurrency)
    if problem is None:
        problem = parts.for_map(run_input, load_mode, max_concurrency)[1]
    if problem is not None:
        raise RunnerError(
            f"--parameter-overrides: {problem}; leave LoadMode and MapMaxConcurrency out (the "
            "demo then deploys LoadMode=DISTRIBUTED, every item at once)"
        )


@dataclass(frozen=True)
class DemoOptions:
    endpoint_url: str
    project_dir: Path
    out_dir: Path
    run_input: ExecutionInput
    stack: str = "pclab-demo"
    bucket: str = "pclab-demo-artifacts"
    parameter_overrides: tuple[str, ...] = ()  # "Key=Value" for sam deploy
    together: bool = False
    late_sources: PollPolicy = field(default_factory=PollPolicy)
    endpoint_timeout: float = DEFAULT_TIMEOUT_SECONDS  # silence after which the demo gives up


@dataclass
class DemoResult:
    run: runner.RunResult | None = None
    timings: dict[str, float] = field(default_factory=dict)
    logs: list[Path] = field(default_factory=list)


def find_project_dir(start: Path | None = None) -> Path:
    """The folder with template.yaml and the scripts: the current one, else this checkout."""
    candidates = [start or Path.cwd(), Path(__file__).resolve().parents[2]]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in PROJECT_FILES):
            return candidate
    raise RunnerError(
        f"{', '.join(PROJECT_FILES)} not found in {candidates[0]}: run pclab demo from the "
        "project folder (the one with template.yaml)"
    )


def script_environment(endpoint_url: str) -> dict[str, str]:
    """What sam-package.sh / sam-deploy.sh need to talk to the endpoint, and only that."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") or key in ("AWS_CA_BUNDLE",)
    }
    bin_dir = str(Path(sys.executable).parent)  # the venv that runs pclab has sam in it
    env.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ACCESS_KEY_ID=DUMMY_CREDENTIALS[0],
        AWS_SECRET_ACCESS_KEY=DUMMY_CREDENTIALS[1],
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
        SAM_CLI_POLL_DELAY="0.5",
        PYTHONUNBUFFERED="1",  # sam's lines reach the progress bar as they happen, not at exit
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def probe(clients: Clients) -> None:
    """Ask the endpoint something cheap; :class:`EndpointLost` once it has been silent too long.

    Any answer counts (the watch sees every HTTP reply): only its silence matters here.
    """
    try:
        clients.s3.list_buckets()
    except (ClientError, BotoCoreError) as error:
        if clients.watch is not None:
            clients.watch.check(" ".join(str(error).split()))


def ensure_bucket(clients: Clients, bucket: str) -> None:
    try:
        clients.s3.create_bucket(Bucket=bucket)
    except ClientError as error:
        if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise as_runner_error(error, f"creating bucket {bucket}") from None
    except BotoCoreError as error:
        raise as_runner_error(error, f"creating bucket {bucket}") from None


def snapstart_overrides(given: Sequence[str], console: Console, bin_dir: Path) -> tuple[str, ...]:
    """PythonRuntime=python3.12 (the SnapStart arm on) when sam build can use a python3.12;
    else one line saying why the demo runs two arms. A user's PythonRuntime wins."""
    if any(item.split("=", 1)[0] == "PythonRuntime" for item in given):
        return ()
    python = find_python312()
    if python is None:
        console.print(
            "SnapStart arm off: no working python3.12 for sam build on this machine (pyenv's "
            "~/.pyenv/versions/3.12.*, or python3.12 on PATH); deploying python3.11, two arms"
        )
        return ()
    link_dir(python, bin_dir)
    return ("PythonRuntime=python3.12",)


def deploy(options: DemoOptions, console: Console, result: DemoResult) -> Clients:
    """Bucket, package, deploy: the stack is ready (PC allocated) when this returns."""
    clients = make_clients(
        REGION,
        options.endpoint_url,
        credentials=DUMMY_CREDENTIALS,
        endpoint_timeout=options.endpoint_timeout,
    )
    try:
        ensure_bucket(clients, options.bucket)
    except EndpointLost as lost:
        raise RunnerError(str(lost)) from None
    env = script_environment(options.endpoint_url)
    # a last resort inside the scripts (scripts/sam-common.sh); the probe below acts first
    env["PCLAB_SAM_TIMEOUT"] = str(int(SCRIPT_TIMEOUT_SECONDS))
    deploy_dir = options.out_dir / "deploy"
    packaged = deploy_dir / "packaged.yaml"
    deploy_dir.mkdir(parents=True, exist_ok=True)
    project = options.project_dir
    with (
        tempfile.TemporaryDirectory(prefix="pclab-build-") as build_dir,
        runner.progress_bar(console) as progress,
    ):
        # The build folder and the cache `sam build --cached` keeps beside it both live in this
        # private folder: never shared with another build running alongside, gone afterwards.
        env["PCLAB_BUILD_DIR"] = str(Path(build_dir) / "build")
        python_bin = Path(build_dir) / "python"
        runtime = snapstart_overrides(options.parameter_overrides, console, python_bin)
        if runtime:  # sam build finds this python3.12 first; nothing else on PATH changes
            env["PATH"] = f"{python_bin}{os.pathsep}{env['PATH']}"
        deploy_command = [str(project / "sam-deploy.sh"), options.stack, str(packaged)]
        deploy_command += ["--region", REGION]
        deploy_command += [
            "--parameter-overrides",
            *parameter_overrides(
                (*options.parameter_overrides, *runtime),
                arrivals=arrival_span(options.run_input) is not None,
            ),
        ]
        steps = (
            (
                "package",
                [str(project / "sam-package.sh"), "template.yaml", str(packaged), options.bucket],
                "sam-package.sh (build and upload)",
            ),
            ("deploy", deploy_command, "sam-deploy.sh (stack, provisioned concurrency)"),
        )
        for step, command, description in steps:
            started = time.monotonic()
            log_path = deploy_dir / f"sam-{step}.log"
            if clients.watch is not None:
                clients.watch.doing = f"running {Path(command[0]).name}"
            run_script(
                command,
                cwd=project,
                env=env,
                log_path=log_path,
                progress=progress,
                description=description,
                alive=partial(probe, clients),
            )
            result.logs.append(log_path)
            result.timings[step] = time.monotonic() - started
    return clients


def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    result = DemoResult()
    clients = deploy(options, console, result)
    run_options = runner.RunOptions(
        stack=options.stack,
        run_input=options.run_input,
        out_dir=options.out_dir,
        together=options.together,
        region=REGION,
        endpoint_url=options.endpoint_url,
        late_sources=options.late_sources,
        endpoint_timeout=options.endpoint_timeout,
    )
    result.run = runner.run(run_options, console, clients)
    result.timings.update(result.run.timings)
    return result
