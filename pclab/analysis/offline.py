"""``pclab analyze``: the analysis from files a user saved from the console or the AWS CLI.

Reads every file first and stops at the first bad one with :class:`InputFileError` (one line
naming the file and the problem), so nothing is written from half the inputs.

Typical inputs::

    aws stepfunctions get-execution-history --execution-arn ARN > history.json
    aws stepfunctions describe-execution --execution-arn ARN > execution.json
    aws xray batch-get-traces --trace-ids 1-... > traces.json
    aws logs filter-log-events --log-group-name /aws/lambda/FN > logs.json   (or plain text)
    aws cloudwatch get-metric-data --cli-input-json file://raw/SM/metric-data-request.json \
        > metric-data.json                           (--metrics: CloudWatch's counts, compared)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pclab.analysis.metrics_check import with_metrics
from pclab.analysis.model import (
    Analysis,
    Invocation,
    MetricsView,
    RunConfig,
    Source,
    SourceBatch,
    SourceFormatError,
)
from pclab.analysis.perf import gc_paused
from pclab.analysis.pipeline import analyze
from pclab.analysis.sources.execution_history import parse_execution_history
from pclab.analysis.sources.execution_output import parse_execution_output
from pclab.analysis.sources.logs import parse_logs
from pclab.analysis.sources.metrics import parse_metric_data
from pclab.analysis.sources.xray import parse_traces


class InputFileError(Exception):
    """A file given to ``pclab analyze`` cannot be used; the message is one line."""


@dataclass(frozen=True)
class _Kind:
    source: Source
    option: str
    parse: Callable[[Any, Path], list[Invocation]]
    empty_hint: str
    json_only: bool


def _output(document: Any, path: Path) -> list[Invocation]:
    # the output names no run: the file name keeps two executions' outputs apart
    return parse_execution_output(document, execution=path.stem)


KINDS = {
    Source.EXECUTION_OUTPUT: _Kind(
        Source.EXECUTION_OUTPUT,
        "--execution-output",
        _output,
        "no results (expected the execution output or `aws stepfunctions describe-execution`)",
        True,
    ),
    Source.EXECUTION_HISTORY: _Kind(
        Source.EXECUTION_HISTORY,
        "--execution-history",
        lambda doc, _: parse_execution_history(doc),
        "no Lambda task events (expected `aws stepfunctions get-execution-history` output)",
        True,
    ),
    Source.XRAY: _Kind(
        Source.XRAY,
        "--xray",
        lambda doc, _: parse_traces(doc),
        "no Lambda function segments (expected `aws xray batch-get-traces` output of traced calls)",
        True,
    ),
    Source.LOGS: _Kind(
        Source.LOGS,
        "--logs",
        lambda doc, _: parse_logs(doc),
        "no REPORT lines (expected `aws logs filter-log-events` output or exported log lines)",
        False,
    ),
}


def load_file(source: Source, path: Path) -> SourceBatch:
    """Parse one saved file with the adapter of ``source``."""
    kind = KINDS[source]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{kind.option} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(f"{kind.option} {path}: cannot read it ({error})") from None
    document: Any = text
    with gc_paused():
        if kind.json_only:
            try:
                document = json.loads(text)
            except ValueError as error:
                raise InputFileError(f"{kind.option} {path}: not JSON ({error})") from None
        try:
            records = kind.parse(document, path)
        except SourceFormatError as error:
            raise InputFileError(f"{kind.option} {path}: {error}") from None
    if not records and source is Source.EXECUTION_HISTORY and _ran_a_map_run(document):
        # A Distributed Map's task events are in its (express) children, not in this history:
        # the source is absent, as `pclab run` reports it, and the other files carry the run.
        note = (
            f"{path} is a Distributed Map's parent history: the items' task events are in its "
            "child executions, not here"
        )
        return SourceBatch(source, provided=False, note=note, origin=str(path))
    if not records:
        raise InputFileError(f"{kind.option} {path}: {kind.empty_hint}")
    return SourceBatch(source, tuple(records), origin=str(path))


def _ran_a_map_run(document: Any) -> bool:
    events = document.get("events") if isinstance(document, dict) else None
    return isinstance(events, list) and any(
        isinstance(event, dict) and event.get("type") == "MapRunStarted" for event in events
    )


def load_batches(files: Mapping[Source, Sequence[Path]]) -> list[SourceBatch]:
    """Every file, in the order given; raises on the first bad one."""
    if not any(files.values()):
        raise InputFileError(
            "no input files: give at least one of --execution-output, --execution-history, "
            "--xray, --logs"
        )
    return [load_file(source, path) for source, paths in files.items() for path in paths]


def parse_pc_options(values: Sequence[str]) -> dict[str, int]:
    """``NAME=N`` pairs (state machine or function name = configured provisioned concurrency)."""
    result: dict[str, int] = {}
    for value in values:
        name, sep, number = value.partition("=")
        if not sep or not name or not number.isdigit():
            raise InputFileError(
                f"--provisioned-concurrency {value!r}: expected NAME=N, e.g. MyStateMachine=150"
            )
        result[name] = int(number)
    return result


def load_metrics(path: Path) -> list[MetricsView]:
    """CloudWatch's views from a saved GetMetricData reply (``--metrics``)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"--metrics {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(f"--metrics {path}: cannot read it ({error})") from None
    except ValueError as error:
        raise InputFileError(f"--metrics {path}: not JSON ({error})") from None
    try:
        views = parse_metric_data(document)
    except SourceFormatError as error:
        raise InputFileError(f"--metrics {path}: {error}") from None
    return [replace(view, origin=str(path)) for view in views]


def analyze_files(
    files: Mapping[Source, Sequence[Path]],
    *,
    provisioned_concurrency: Sequence[str] = (),
    memory_mb: int | None = None,
    metrics: Sequence[Path] = (),
) -> Analysis:
    """Load the files and analyse them; ``provisioned_concurrency`` holds ``NAME=N`` options
    (NAME: a state machine or function name found in the files); ``metrics`` are GetMetricData
    replies, compared with the runs they count."""
    pc = parse_pc_options(provisioned_concurrency)
    batches = load_batches(files)
    views = [view for path in metrics for view in load_metrics(path)]
    configs = [RunConfig(name=name, provisioned_concurrency=n) for name, n in pc.items()]
    analysis = analyze(batches, configs, default_memory_mb=memory_mb)
    for name in pc:
        run = next((r for r in analysis.runs if r.name == name or r.function_name == name), None)
        if run is None or run.invocations == 0:
            found = ", ".join(
                sorted(
                    {r.name for r in analysis.runs if r.invocations}
                    | {r.function_name for r in analysis.runs if r.function_name}
                )
            )
            raise InputFileError(
                f"--provisioned-concurrency {name}=...: no run or function of that name in the "
                f"files (found: {found or 'none'})"
            )
    return with_metrics(analysis, views) if views else analysis
