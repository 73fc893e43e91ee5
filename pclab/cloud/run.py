"""``pclab run``: stack outputs -> executions (with progress) -> the four sources -> the analysis.

The order of the original sample: the reserved state machine first, then the provisioned one
(``together=True`` starts both at once). Whatever happens after the first execution starts, the
raw documents collected are written under ``out_dir/raw/`` (so ``pclab analyze`` can re-run on
them) and the :class:`RunResult` carries the analysis; every problem comes back as one line in
:attr:`RunResult.problems` for the CLI to print before exiting non-zero.

It does not render anything (DESIGN.md: the runner returns its result): the CLI, through
``pclab.compose``, writes report.json/html/PNGs and prints the table. So this package imports the
analysis and nothing of ``pclab.report`` or ``pclab.localcloud`` (tests/test_import_graph.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from pclab.analysis.model import Analysis, RunConfig, SourceBatch
from pclab.analysis.pipeline import analyze
from pclab.cloud import collect, executions
from pclab.cloud.aws import Clients, make_clients
from pclab.cloud.executions import Execution
from pclab.cloud.input import ExecutionInput
from pclab.cloud.stack import FunctionFacts, Stack, Target, function_facts, read_stack


@dataclass(frozen=True)
class RunOptions:
    stack: str
    run_input: ExecutionInput
    out_dir: Path
    together: bool = False
    region: str | None = None
    endpoint_url: str | None = None
    poll_seconds: float = 0.25
    late_sources: collect.PollPolicy = field(default_factory=collect.PollPolicy)


@dataclass
class RunResult:
    """What a run produced, for the CLI to render: the analysis and where the raw files are."""

    stack: Stack
    executions: list[Execution]
    out_dir: Path
    analysis: Analysis | None = None
    raw_files: list[Path] = field(default_factory=list)  # raw/ documents written under out_dir
    problems: list[str] = field(default_factory=list)
    interrupted: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds

    @property
    def run_seconds(self) -> float:
        """Wall time of the executions themselves (first start to last end, our clock)."""
        return self.timings.get("executions", 0.0)


def progress_bar(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run(options: RunOptions, console: Console, clients: Clients | None = None) -> RunResult:
    """Run the experiment on a deployed stack. Raises RunnerError only before anything started."""
    clients = clients or make_clients(options.region, options.endpoint_url)
    stack = read_stack(clients, options.stack)
    facts = {target.label: function_facts(clients, target) for target in stack.targets}
    result = RunResult(stack=stack, executions=[], out_dir=options.out_dir)
    started = time.monotonic()
    try:
        _run_executions(clients, stack, options, console, result)
    except KeyboardInterrupt:
        result.interrupted = True
        result.problems.append("interrupted: the unfinished executions were stopped")
        result.problems.extend(
            executions.stop_unfinished(clients, result.executions, "interrupted by the user")
        )
    result.timings["executions"] = time.monotonic() - started
    for execution in result.executions:
        problem = execution.problem()
        if problem and not result.interrupted:
            result.problems.append(problem)
    if not result.executions:
        return result
    step = time.monotonic()
    batches, raw = _collect(clients, options, console, result, facts)
    result.timings["collection"] = time.monotonic() - step
    result.raw_files.extend(write_raw(options.out_dir, raw))
    step = time.monotonic()
    configs = run_configs(stack, facts, options.run_input, result.executions)
    result.analysis = analyze(batches, configs)
    result.timings["analysis"] = time.monotonic() - step
    return result


def _run_executions(
    clients: Clients, stack: Stack, options: RunOptions, console: Console, result: RunResult
) -> None:
    total = len(options.run_input.items)
    with progress_bar(console) as progress:
        tasks: dict[str, TaskID] = {}

        def show(execution: Execution) -> None:
            status = "" if execution.status == "RUNNING" else f" [{execution.status.lower()}]"
            failed = f" ({execution.failed} failed)" if execution.failed else ""
            progress.update(
                tasks[execution.arn],
                completed=execution.done,
                description=f"{_label(execution.target)}{failed}{status}",
            )

        def launch(target: Target) -> Execution:
            execution = executions.start(clients, target, options.run_input)
            result.executions.append(execution)
            progress.console.print(f"Started {execution.name} on {target.state_machine_name}")
            tasks[execution.arn] = progress.add_task(_label(target), total=total)
            return execution

        if options.together:
            batch = [launch(target) for target in stack.targets]
            executions.wait(clients, batch, poll_seconds=options.poll_seconds, on_progress=show)
        else:
            for target in stack.targets:
                one = launch(target)
                executions.wait(clients, [one], poll_seconds=options.poll_seconds, on_progress=show)


def _label(target: Target) -> str:
    """Short, so the bar and the item count fit an 80-column terminal (names are printed above)."""
    return f"{target.label} items"


@contextmanager
def _spinner(progress: Progress, description: str) -> Iterator[TaskID]:
    task = progress.add_task(description, total=None)
    try:
        yield task
    finally:
        progress.update(task, total=1, completed=1)


def _collect(
    clients: Clients,
    options: RunOptions,
    console: Console,
    result: RunResult,
    facts: dict[str, FunctionFacts],
) -> tuple[list[SourceBatch], dict[str, Any]]:
    batches: list[SourceBatch] = []
    raw: dict[str, Any] = {}

    def keep(collected: collect.Collected) -> None:
        batches.append(collected.batch)
        raw.update(collected.raw)

    runs = result.executions
    with progress_bar(console) as progress:
        with _spinner(progress, "execution output and history"):
            outputs = [collect.execution_output(execution) for execution in runs]
            for collected in outputs:
                keep(collected)
            for execution in runs:
                keep(collect.execution_history(clients, execution))
        request_ids: dict[str, set[str]] = {}
        for execution, collected in zip(runs, outputs, strict=True):
            ids = {r.request_id for r in collected.batch.invocations if r.request_id}
            request_ids.setdefault(execution.target.label, set()).update(ids)
        calls = sum(len(ids) for ids in request_ids.values())
        policy = options.late_sources
        if result.interrupted:
            policy = collect.PollPolicy(deadline_seconds=0, settle_seconds=0)
        with _spinner(progress, "X-Ray traces") as task:

            def xray_count(count: int) -> None:
                progress.update(task, description=f"X-Ray traces: {count} segments")

            for collected in collect.xray(clients, runs, calls or None, policy, on_poll=xray_count):
                keep(collected)
        window = (
            min(e.started_at for e in runs),
            max(e.ended_at or time.time() for e in runs),
        )
        for target in {execution.target.label: execution.target for execution in runs}.values():
            with _spinner(progress, f"CloudWatch Logs {target.function_name}") as task:

                def log_count(
                    count: int, task: TaskID = task, name: str = target.function_name
                ) -> None:
                    progress.update(
                        task, description=f"CloudWatch Logs {name}: {count} REPORT lines"
                    )

                keep(
                    collect.logs(
                        clients,
                        target,
                        facts[target.label],
                        window,
                        request_ids.get(target.label, set()),
                        policy,
                        on_poll=log_count,
                    )
                )
    return batches, raw


def run_configs(
    stack: Stack,
    facts: dict[str, FunctionFacts],
    run_input: ExecutionInput,
    runs: Sequence[Execution],
) -> list[RunConfig]:
    """What the analysis cannot see in the sources: PC configured, memory, items, Map limits."""
    configs: list[RunConfig] = []
    started = {execution.target.label for execution in runs}
    for target in stack.targets:
        if target.label not in started:
            continue
        fact = facts[target.label]
        pc = fact.provisioned_concurrency
        if pc is None:
            pc = (
                stack.parameter_int("ProvisionedConcurrency")
                if target.label == "provisioned"
                else 0
            )
        map_runs = [e for e in runs if e.target.label == target.label and e.map_run_arn]
        configs.append(
            RunConfig(
                name=target.state_machine_name,
                function_name=target.function_name,
                qualifier=target.qualifier,
                memory_mb=fact.memory_mb or stack.parameter_int("MemorySize"),
                provisioned_concurrency=pc or 0,
                items=len(run_input.items),
                max_concurrency=stack.parameter_int("MapMaxConcurrency"),
                # a Map Run seen in the history, or else the template's LoadMode, says which Map
                # ran: "asked" is then min(items, MaxConcurrency or items) instead of at most 40
                inline_map=not map_runs and stack.parameters.get("LoadMode") != "DISTRIBUTED",
            )
        )
    return configs


# The documents collect.py saves under raw/<state machine or function>/.
RAW_NAMES = ("describe-execution.json", "history.json", "traces.json", "report-lines.json")


def write_raw(out_dir: Path, raw: dict[str, Any]) -> list[Path]:
    """Save the raw documents (AWS CLI shapes, ISO timestamps) for ``pclab analyze``.

    An earlier run's documents go first (our own file names only): raw/ then holds this run
    alone, not also the folders of another stack's state machines and functions."""
    earlier = out_dir / "raw"
    if earlier.is_dir():
        for folder in earlier.iterdir():
            if folder.is_dir():
                for name in RAW_NAMES:
                    (folder / name).unlink(missing_ok=True)
                with suppress(OSError):  # the user's own files keep it
                    folder.rmdir()
    written: list[Path] = []
    for relative, document in raw.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=1, default=str) + "\n", encoding="utf-8")
        written.append(path)
    return written
