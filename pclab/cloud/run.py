"""``pclab run``: stack outputs -> executions (with progress) -> the five sources -> the analysis.

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
import re
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import TaskID

from pclab.analysis.metrics_check import with_metrics
from pclab.analysis.model import Analysis, Incomplete, RunConfig
from pclab.analysis.pipeline import analyze
from pclab.cloud import collect, collect_metrics, executions
from pclab.cloud.aws import Clients, make_clients
from pclab.cloud.endpoint import DEFAULT_TIMEOUT_SECONDS, EndpointLost
from pclab.cloud.errors import RunnerError
from pclab.cloud.executions import Execution
from pclab.cloud.gather import gather
from pclab.cloud.input import ExecutionInput, arrival_problem, arrival_span
from pclab.cloud.parts import Limits, Part, for_map
from pclab.cloud.progress import progress_bar
from pclab.cloud.schedule import on_schedule
from pclab.cloud.stack import FunctionFacts, Stack, Target, function_facts, read_stack

__all__ = ["RunOptions", "RunResult", "progress_bar", "run", "run_configs", "write_raw"]


@dataclass(frozen=True)
class RunOptions:
    stack: str
    run_input: ExecutionInput
    out_dir: Path
    together: bool = False
    region: str | None = None
    endpoint_url: str | None = None
    endpoint_timeout: float = DEFAULT_TIMEOUT_SECONDS  # silence after which the run gives up
    poll_seconds: float = 0.25
    late_sources: collect.PollPolicy = field(default_factory=collect.PollPolicy)
    limits: Limits = field(default_factory=Limits)  # what one execution holds (parts.py)


@dataclass
class RunResult:
    """What a run produced, for the CLI to render: the analysis and where the raw files are."""

    stack: Stack
    executions: list[Execution]
    out_dir: Path
    parts: int = 1  # executions per state machine (a run too big for one execution)
    analysis: Analysis | None = None
    raw_files: list[Path] = field(default_factory=list)  # raw/ documents written under out_dir
    problems: list[str] = field(default_factory=list)
    interrupted: bool = False
    endpoint_lost: str | None = None  # why the runner gave up the endpoint, if it did
    refused: str | None = None  # a StartExecution refused after others had started
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds
    # more top-level keys of report.json (pclab run --url: http_client, what the client saw)
    report_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_seconds(self) -> float:
        """Wall time of the executions themselves (first start to last end, our clock)."""
        return self.timings.get("executions", 0.0)


def run(
    options: RunOptions,
    console: Console,
    clients: Clients | None = None,
    stack: Stack | None = None,
) -> RunResult:
    """Run the experiment on a deployed stack (``stack``: already read, e.g. the load generator
    aimed at a function; else ``options.stack`` is read). Raises RunnerError only before
    anything started.

    After the first execution started, whatever happens (a failed execution, Ctrl-C, the
    endpoint lost) ends in a result with the raw files saved and the analysis of what was
    collected, marked incomplete when the run did not end.
    """
    clients = clients or make_clients(
        options.region, options.endpoint_url, endpoint_timeout=options.endpoint_timeout
    )
    if clients.watch is not None:
        clients.watch.doing = f"reading stack '{options.stack}'"
    try:
        stack = stack or read_stack(clients, options.stack)
        facts = {target.label: function_facts(clients, target) for target in stack.targets}
    except EndpointLost as lost:
        raise RunnerError(str(lost)) from None
    late = arrival_problem(
        options.run_input,
        stack.parameters.get("LoadMode"),
        stack.parameter_int("MapMaxConcurrency"),
    )
    if late is not None:
        raise RunnerError(
            f"stack '{stack.name}': {late}; redeploy it with --parameter-overrides "
            "LoadMode=DISTRIBUTED MapMaxConcurrency=0"
        )
    parts = _parts(stack, options)
    span = arrival_span(options.run_input)
    if span is not None:
        console.print(
            f"{len(options.run_input.items)} items arrive over {span} s (startAfterSeconds): "
            f"each state machine's run takes at least that long"
        )
    if len(parts) > 1:
        windows = parts[-1].window + 1
        how = f"{windows} arrival windows" if windows > 1 else "started together"
        console.print(
            f"{len(parts)} executions per state machine ({how}): one execution holds "
            f"{options.limits.payload_bytes // 1024} KiB of results and "
            f"{options.limits.window_s} s of arrivals"
        )
    result = RunResult(stack=stack, executions=[], out_dir=options.out_dir, parts=len(parts))
    started = time.monotonic()
    try:
        _run_executions(clients, stack, options, console, result, parts)
    except KeyboardInterrupt:
        result.interrupted = True
        result.problems.append("interrupted: the unfinished executions were stopped")
        result.problems.extend(
            executions.stop_unfinished(clients, result.executions, "interrupted by the user")
        )
    except EndpointLost as lost:
        result.endpoint_lost = str(lost)
        not_stopped = executions.stop_after_loss(
            clients, result.executions, "pclab lost the endpoint"
        )
        result.problems.append(_lost_line(result, not_stopped))
    result.timings["executions"] = time.monotonic() - started
    if result.refused is not None:
        result.problems.append(
            f"{result.refused}; the executions started before it ran to their end and are in "
            f"the report under {result.out_dir}/, marked incomplete"
        )
    if result.endpoint_lost is None and not result.interrupted:
        for execution in result.executions:
            problem = execution.problem()
            if problem:
                result.problems.append(problem)
    if not result.executions:
        return result
    step = time.monotonic()
    policy = options.late_sources
    if result.interrupted:
        policy = collect.PollPolicy(deadline_seconds=0, settle_seconds=0)
    found = gather(clients, result.executions, facts, policy, console, lost=result.endpoint_lost)
    if found.lost is not None and result.endpoint_lost is None:
        result.endpoint_lost = found.lost
        result.problems.append(_lost_line(result, []))
    result.timings["collection"] = time.monotonic() - step
    result.raw_files.extend(write_raw(options.out_dir, found.raw))
    step = time.monotonic()
    configs = run_configs(stack, facts, options.run_input, result.executions)
    analysis = with_metrics(analyze(found.batches, configs), found.metrics)
    incomplete = _incomplete(result, stack, found.missing)
    if incomplete is not None:
        analysis = replace(analysis, incomplete=incomplete)
    if len(parts) > 1:
        note = (
            f"each state machine ran its {len(options.run_input.items)} items as {len(parts)} "
            "executions (one holds 256 KiB of results and 240 s of arrivals): one run each"
        )
        analysis = replace(analysis, notes=(*analysis.notes, note))
    result.analysis = analysis
    result.timings["analysis"] = time.monotonic() - step
    return result


def _parts(stack: Stack, options: RunOptions) -> list[Part]:
    """The executions each state machine runs; a one-line RunnerError for what cannot work."""
    parts, problem = for_map(
        options.run_input,
        stack.parameters.get("LoadMode"),
        stack.parameter_int("MapMaxConcurrency"),
        options.limits,
    )
    if problem is not None:
        raise RunnerError(
            f"stack '{stack.name}': {problem}; redeploy it with --parameter-overrides "
            "LoadMode=DISTRIBUTED MapMaxConcurrency=0, or run fewer items"
        )
    return parts


def _lost_line(result: RunResult, not_stopped: list[str]) -> str:
    """One line: what happened, where, and that what was collected is saved."""
    line = f"{result.endpoint_lost}; saved what was collected under {result.out_dir}/ (report "
    line += "marked incomplete)"
    if not_stopped:
        line += (
            f"; not stopped: {', '.join(not_stopped)} (stop them with `aws stepfunctions "
            "stop-execution` once the endpoint answers)"
        )
    return line


def _incomplete(result: RunResult, stack: Stack, missing: list[str]) -> Incomplete | None:
    reason = result.endpoint_lost or ("interrupted by the user" if result.interrupted else None)
    reason = reason or result.refused
    if reason is None:
        return None
    unfinished = [
        f"{e.name} ({e.target.label}): {e.status}"
        for e in result.executions
        if e.status not in ("SUCCEEDED", "FAILED", "TIMED_OUT")
    ]
    started = Counter(e.target.label for e in result.executions)
    unfinished += [
        f"{t.state_machine_name} ({t.label}): not started"
        for t in stack.targets
        if t.label not in started
    ]
    unfinished += [
        f"{t.state_machine_name} ({t.label}): {result.parts - started[t.label]} of "
        f"{result.parts} executions not started"
        for t in stack.targets
        if 0 < started[t.label] < result.parts
    ]
    return Incomplete(reason=reason, executions=tuple(unfinished), sources=tuple(missing))


def _run_executions(
    clients: Clients,
    stack: Stack,
    options: RunOptions,
    console: Console,
    result: RunResult,
    parts: Sequence[Part],
) -> None:
    """Each state machine's parts, the state machines one after another (or together): the parts
    of one window start together, later windows just in time, and the bar counts every item."""
    total = len(options.run_input.items)
    with progress_bar(console) as progress:
        tasks: dict[str, TaskID] = {}

        def show(execution: Execution) -> None:
            label = execution.target.label
            mine = [e for e in result.executions if e.target.label == label]
            failed = sum(e.failed for e in mine)
            status = ""
            if len(mine) == len(parts) and all(e.finished for e in mine):
                status = f" [{'/'.join(sorted({e.status.lower() for e in mine}))}]"
            failures = f" ({failed} failed)" if failed else ""
            progress.update(
                tasks[label],
                completed=sum(e.done for e in mine),
                description=f"{_label(execution.target)}{failures}{status}",
            )

        def launch(target: Target, part: Part, zero: int | None) -> Execution | None:
            try:
                execution = executions.start(
                    clients, target, part.run_input, zero=zero, part=part.number
                )
            except RunnerError as refused:
                if not result.executions:
                    raise  # nothing started: the run never began
                result.refused = str(refused)  # what started runs on and is reported
                return None
            result.executions.append(execution)
            of = f" ({part.number} of {len(parts)})" if len(parts) > 1 else ""
            progress.console.print(f"Started {execution.name} on {target.state_machine_name}{of}")
            if target.label not in tasks:
                tasks[target.label] = progress.add_task(_label(target), total=total)
            return execution

        def arm(targets: Sequence[Target]) -> None:
            schedule = [(part, target) for part in parts for target in targets]
            on_schedule(
                clients, options.run_input, options.poll_seconds, progress, schedule, launch, show
            )

        if options.together:
            arm(stack.targets)
        else:
            for target in stack.targets:
                if result.refused is None:
                    arm([target])


def _label(target: Target) -> str:
    """Short, so the bar and the item count fit an 80-column terminal (names are printed above)."""
    return f"{target.label} items"


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
                name=target.run_name,
                function_name=target.function_name,
                qualifier=target.qualifier,
                memory_mb=fact.memory_mb or stack.parameter_int("MemorySize"),
                provisioned_concurrency=pc or 0,
                items=len(run_input.items),
                max_concurrency=stack.parameter_int("MapMaxConcurrency"),
                # a Map Run seen in the history, or else the template's LoadMode, says which Map
                # ran: "asked" is then min(items, MaxConcurrency or items) instead of at most 40
                inline_map=not map_runs and stack.parameters.get("LoadMode") != "DISTRIBUTED",
                arrival_span_s=arrival_span(run_input),
            )
        )
    return configs


# The documents collect.py and collect_metrics.py save under raw/<state machine or function>/;
# a run of several executions saves describe-execution-2.json, history-2.json ... for the others.
RAW_NAMES = (
    "describe-execution.json",
    "history.json",
    "traces.json",
    "report-lines.json",
    collect_metrics.REQUEST_FILE,
    collect_metrics.REPLY_FILE,
)
_PART_NAME = re.compile(r"(describe-execution|history|traces)-[0-9]+\.json")


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
                for path in folder.iterdir():
                    if _PART_NAME.fullmatch(path.name):
                        path.unlink(missing_ok=True)
                with suppress(OSError):  # the user's own files keep it
                    folder.rmdir()
    written: list[Path] = []
    for relative, document in raw.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=1, default=str) + "\n", encoding="utf-8")
        written.append(path)
    return written
