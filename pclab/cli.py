"""The ``pclab`` command: wires the parts together and holds no logic of its own.

Each subcommand is a thin function that parses arguments, calls one part, and turns the part's
errors into one clear line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pclab import __version__
from pclab.plan import cli as plan_cli


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pclab",
        description="Measure Lambda cold starts and provisioned concurrency, on AWS or locally.",
    )
    parser.add_argument("--version", action="version", version=f"pclab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    # Subcommands are registered below, one block per part.
    _add_local_cloud(commands)
    _add_analyze(commands)
    _add_run(commands)
    _add_demo(commands)
    plan_cli.add_parser(commands)  # dispatches to plan_cli.run via its handler
    return parser


# --- analyze (pclab/analysis/offline.py, pclab/report/) -----------------------------------------
def _add_analyze(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pathlib import Path

    analyze = commands.add_parser(
        "analyze",
        help="the analysis and report from files saved from the console or the AWS CLI",
        description="Analyse saved AWS documents (any subset of the four sources) and write "
        "report.json, report.html and PNG charts. Each option may be repeated.",
    )
    for option, what in (
        ("--execution-output", "describe-execution reply or the execution's output JSON"),
        ("--execution-history", "`aws stepfunctions get-execution-history` output"),
        ("--xray", "`aws xray batch-get-traces` output"),
        ("--logs", "`aws logs filter-log-events` output, or exported REPORT lines (text)"),
    ):
        dest = option.removeprefix("--").replace("-", "_")
        analyze.add_argument(
            option, dest=dest, action="append", type=Path, default=[], metavar="FILE", help=what
        )
    analyze.add_argument(
        "--metrics",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="`aws cloudwatch get-metric-data` output (raw/<state machine>/metric-data.json): "
        "CloudWatch's counts, compared with the run's own",
    )
    analyze.add_argument(
        "--provisioned-concurrency",
        action="append",
        default=[],
        metavar="NAME=N",
        help="PC configured for a state machine or function (cost, spillover); repeatable",
    )
    analyze.add_argument("--memory-mb", type=int, help="memory size when no REPORT line says")
    analyze.add_argument(
        "--out", type=Path, default=Path("pclab-report"), help="directory (default pclab-report)"
    )
    analyze.add_argument("--no-charts", action="store_true", help="report.json and table only")
    analyze.set_defaults(handler=_analyze)


def _analyze(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pclab.analysis.model import Source
    from pclab.analysis.offline import InputFileError, analyze_files
    from pclab.report import write_report
    from pclab.report.table import render_table

    files = {
        Source.EXECUTION_OUTPUT: args.execution_output,
        Source.EXECUTION_HISTORY: args.execution_history,
        Source.XRAY: args.xray,
        Source.LOGS: args.logs,
    }
    if args.memory_mb is not None and not 128 <= args.memory_mb <= 10240:
        raise UserError(f"--memory-mb {args.memory_mb}: Lambda memory is 128 to 10240 MB")
    try:
        analysis = analyze_files(
            files,
            provisioned_concurrency=args.provisioned_concurrency,
            memory_mb=args.memory_mb,
            metrics=args.metrics,
        )
    except InputFileError as error:
        raise UserError(str(error)) from None
    try:
        written = write_report(analysis, args.out, charts=not args.no_charts)
    except OSError as error:
        raise UserError(f"--out {args.out}: cannot write the report ({error})") from None
    render_table(analysis, Console())
    shown = [written.json, *([written.html] if written.html else []), *written.charts]
    print("wrote " + ", ".join(str(path) for path in shown))
    return 0


# --- local cloud (pclab/localcloud/server.py) -------------------------------------------------
def _add_local_cloud(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = commands.add_parser("local-cloud", help="run the embedded local cloud (moto + Lambda)")
    actions = local.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    start = actions.add_parser("start", help="start it and print the environment to export")
    start.add_argument("--port", type=int, default=4577, help="port on localhost (default 4577)")
    start.add_argument(
        "--detach", action="store_true", help="run in the background (pid + log file)"
    )
    start.add_argument(
        "--account-concurrency",
        type=int,
        default=1000,
        help="the account's Lambda concurrency limit (default 1000, as on AWS)",
    )
    start.add_argument(
        "--platform-model",
        choices=("aws", "none"),
        default=os.environ.get("PCLAB_PLATFORM_MODEL", "aws"),
        help="aws (default): Lambda's runtime start and dependency imports in Init Duration; "
        "none: raw local timings (docs/local-cloud.md)",
    )
    start.add_argument("--verbose", action="store_true", help="log every request")
    start.set_defaults(handler=_local_cloud_start)
    actions.add_parser("stop", help="stop the running local cloud").set_defaults(
        handler=_local_cloud_stop
    )
    actions.add_parser("status", help="is it running, where").set_defaults(
        handler=_local_cloud_status
    )
    types = actions.add_parser(
        "supported-types",
        help="the CloudFormation resource types it creates (any other fails the deploy)",
    )
    types.add_argument(
        "--markdown", action="store_true", help="one line per service, as docs/local-cloud.md"
    )
    types.set_defaults(handler=_local_cloud_supported_types)


def _local_cloud_start(args: argparse.Namespace) -> int:
    from pclab.localcloud import server

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port} is not a port number (1-65535)")
    if args.account_concurrency < 100:
        raise UserError("--account-concurrency must be at least 100 (Lambda keeps 100 unreserved)")
    os.environ["PCLAB_PLATFORM_MODEL"] = args.platform_model  # the server (detached too) reads it
    try:
        if not args.detach:
            return server.run_foreground(
                args.port, account_limit=args.account_concurrency, verbose=args.verbose
            )
        record = server.start_detached(args.port, account_limit=args.account_concurrency)
    except server.LocalCloudError as error:
        raise UserError(str(error)) from None
    print(f"Local cloud running in the background (pid {record.pid}), log: {record.log_file}")
    print(server.environments_line(record) or "Lambda execution environments: unknown (see log)")
    print(server.export_lines(record.port))
    return 0


def _local_cloud_stop(args: argparse.Namespace) -> int:
    from pclab.localcloud import server

    try:
        record = server.stop_running()
    except server.LocalCloudError as error:
        raise UserError(str(error)) from None
    if record is None:
        # a cloud started with another PCLAB_STATE_DIR is invisible here: say where we looked
        raise UserError(
            f"no local cloud is running (no pid file in {server.state_dir()}): nothing to stop; "
            "one started with another PCLAB_STATE_DIR is stopped with that setting"
        )
    print(f"Stopped the local cloud (pid {record.pid}, port {record.port}).")
    return 0


def _local_cloud_supported_types(args: argparse.Namespace) -> int:
    from pclab.localcloud import moto as moto_ext

    types = moto_ext.supported_types()
    print(moto_ext.types_markdown(types) if args.markdown else "\n".join(types))
    return 0


def _local_cloud_status(args: argparse.Namespace) -> int:
    from pclab.localcloud import server

    try:
        found = server.inspect()
    except server.LocalCloudError as error:
        raise UserError(str(error)) from None
    record = found.record
    if record is None:
        print("No local cloud is running.")
        return 3
    url = server.endpoint(record.port)
    if found.state == "running":
        print(f"Local cloud running: pid {record.pid}, {url} (answering)")
        print(server.export_lines(record.port))
        return 0
    if found.state == "dead":
        print(
            f"Local cloud DEAD: pid {record.pid} ({url}) is gone without `pclab local-cloud "
            "stop` (killed or crashed); its pid file is removed. Its stacks went with it: "
            "start a new one, then package and deploy again."
        )
    else:
        print(
            f"Local cloud NOT answering: pid {record.pid} is alive but {url} does not answer "
            "(stuck or overloaded); stop it with `pclab local-cloud stop`."
        )
    if found.log_tail:
        print(f"Last lines of its log ({found.log_file}):")
        print("\n".join(f"  {line}" for line in found.log_tail))
    elif found.log_file is None:
        print("No log file: it ran in the foreground (its output went to that terminal).")
    return 1


# --- the runner (pclab/cloud/) and the demo ------------------------------------------------
def _add_experiment_options(parser: argparse.ArgumentParser, *, default_out: str) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--input",
        type=Path,
        help="execution input file (default: sample-test-input.json)",
    )
    source.add_argument("--items", type=int, help="generate N items instead of reading a file")
    source.add_argument(
        "--arrivals",
        choices=("poisson", "uniform", "ramp", "file"),
        help="items arrive over time instead of at once (startAfterSeconds, whole seconds; "
        "LoadMode=DISTRIBUTED): poisson, uniform, ramp (0 to --rate), file (--arrivals-file)",
    )
    arrivals = parser.add_argument_group("arrivals (docs/execute.md)")
    arrivals.add_argument("--rate", type=float, metavar="R", help="calls per second")
    arrivals.add_argument("--seconds", type=float, metavar="S", help="span, at most 240 s")
    arrivals.add_argument(
        "--arrivals-file",
        type=Path,
        metavar="FILE",
        help="a CSV of second,calls rows, or `aws cloudwatch get-metric-data` JSON of Invocations",
    )
    arrivals.add_argument(
        "--duration-ms", type=float, metavar="MS", help="each item's work (default: the template's)"
    )
    arrivals.add_argument("--seed", type=int, default=0, help="random seed (default 0, as plan)")
    parser.add_argument("--together", action="store_true", help="run both state machines at once")
    parser.add_argument(
        "--out", type=Path, default=Path(default_out), help=f"report folder (default {default_out})"
    )
    parser.add_argument("--no-charts", action="store_true", help="report.json only (faster)")
    parser.add_argument(
        "--source-wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="longest wait for X-Ray traces, log lines and CloudWatch metrics to arrive "
        "(default 60)",
    )
    parser.add_argument(
        "--endpoint-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up when the endpoint has not answered for this long: say so, save what was "
        "collected, exit 1 (default 60)",
    )


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="run both state machines of a deployed stack, or load any function or URL; "
        "collect every source, report",
    )
    run.add_argument("--stack", help="the sample's stack sam-deploy.sh created")
    run.add_argument(
        "--function",
        metavar="NAME[:QUALIFIER]",
        help="measure any function (an alias such as live reaches its PC), through the "
        "pclab-loadgen stack (deployed on first use); with --url: the function behind it",
    )
    run.add_argument("--url", help="HTTP load on this endpoint (locust), e.g. an API's URL")
    run.add_argument(
        "--payload", type=Path, metavar="FILE", help="the event (--function) or body (--url)"
    )
    run.add_argument(
        "--method", help="HTTP method for --url (default POST with --payload, else GET)"
    )
    _add_experiment_options(run, default_out="pclab-report")
    run.add_argument("--region", help="AWS region (default: the usual AWS configuration)")
    run.add_argument(
        "--endpoint-url", help="another endpoint, e.g. the local cloud (or AWS_ENDPOINT_URL)"
    )
    run.set_defaults(handler=_run)


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="local cloud + package + deploy + run + report, then stop (make demo)"
    )
    _add_experiment_options(demo, default_out="pclab-report")
    demo.add_argument("--port", type=int, help="local cloud port (default: a free one)")
    demo.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters for sam deploy, e.g. ColdStartDelaySeconds=1",
    )
    demo.set_defaults(handler=_demo)


def _experiment_input(args: argparse.Namespace, project: Path | None = None) -> Any:
    from pclab.cloud import input as run_input
    from pclab.compose import ArrivalOptions, arrival_input

    asked = ArrivalOptions(
        args.arrivals, args.rate, args.seconds, args.arrivals_file, args.seed, args.duration_ms
    )
    if asked.file is not None and (args.input is not None or args.items is not None):
        raise UserError("--arrivals-file makes the items: leave out --input and --items")
    arriving = arrival_input(asked)  # RunnerError: the caller makes it one line
    if arriving is not None:
        return arriving
    if args.items is not None:
        return run_input.generate(args.items)
    path = args.input or (project or Path.cwd()) / "sample-test-input.json"
    return run_input.load(path)


def _endpoint_timeout(args: argparse.Namespace) -> float:
    seconds: float = args.endpoint_timeout
    if not 1.0 <= seconds <= 3600.0:
        raise UserError(f"--endpoint-timeout {seconds:g}: give 1 to 3600 seconds")
    return seconds


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pclab.cloud import collect, measure, run
    from pclab.cloud.errors import RunnerError
    from pclab.compose import finish_run

    console = Console()
    try:
        mode = measure.run_mode(
            stack=args.stack,
            function=args.function,
            url=args.url,
            together=args.together,
            payload=args.payload,
            method=args.method,
        )
        options = run.RunOptions(
            stack=args.stack or "",
            run_input=_experiment_input(args),
            out_dir=args.out,
            together=args.together,
            region=args.region,
            endpoint_url=args.endpoint_url,
            late_sources=collect.PollPolicy(deadline_seconds=max(args.source_wait, 0.0)),
            endpoint_timeout=_endpoint_timeout(args),
        )
        if mode == "url":
            result = measure.run_on_url(
                options, args.url, args.function, args.payload, args.method, console
            )
        elif mode == "function":
            result = measure.run_function(options, args.function, args.payload, console)
        else:
            result = run.run(options, console)
    except RunnerError as error:
        raise UserError(str(error)) from None
    return finish_run(result, console, charts=not args.no_charts)


def _demo(args: argparse.Namespace) -> int:
    import time

    from rich.console import Console

    from pclab.cloud import collect, demo
    from pclab.cloud.errors import RunnerError
    from pclab.compose import finish_run
    from pclab.localcloud import server

    console = Console()
    started = time.monotonic()
    try:
        project = demo.find_project_dir()
        run_input = _experiment_input(args, project)
        for override in args.parameter_overrides:
            if "=" not in override:
                raise UserError(f"--parameter-overrides {override}: write KEY=VALUE")
        demo.check_overrides(args.parameter_overrides, run_input)
    except RunnerError as error:
        raise UserError(str(error)) from None
    port = args.port or server.free_port()
    out = args.out.resolve()
    options = demo.DemoOptions(
        endpoint_url=server.endpoint(port),
        project_dir=project,
        out_dir=out,
        run_input=run_input,
        parameter_overrides=tuple(args.parameter_overrides),
        together=args.together,
        late_sources=collect.PollPolicy(deadline_seconds=max(args.source_wait, 0.0)),
        endpoint_timeout=_endpoint_timeout(args),
    )
    cloud_started = time.monotonic()
    try:
        # its log stays next to the report
        with server.private_cloud(port, out / "local-cloud", show=console.status):
            console.print(
                f"Local cloud ready at {server.endpoint(port)} in "
                f"{time.monotonic() - cloud_started:.1f} s"
            )
            outcome = demo.run_demo(options, console)
    except (server.LocalCloudError, RunnerError) as error:
        raise UserError(str(error)) from None
    assert outcome.run is not None
    outcome.run.timings = {**outcome.timings, "demo total": time.monotonic() - started}
    # timings.json: where the time went, for bench/bench_demo.py and anyone comparing runs
    return finish_run(
        outcome.run, console, charts=not args.no_charts, timings_file=out / "timings.json"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
        return result
    except UserError as error:
        print(f"pclab: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pclab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
