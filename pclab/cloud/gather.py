"""Collect every source of a run's executions, with progress, and stop calling a lost endpoint.

:mod:`pclab.cloud.collect` reads one source at a time; this module reads them all in order (the
execution output first: it names the request ids the late sources are polled for) and keeps the
promise of issue 13: once the endpoint is lost (:class:`~pclab.cloud.endpoint.EndpointLost`,
raised while waiting or during any step here), no further call is made, and every source not
read yet becomes an absent batch saying so. What was read stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import Progress, TaskID

from pclab.analysis.model import MetricsView, Source, SourceBatch
from pclab.cloud import collect, collect_metrics
from pclab.cloud.aws import Clients
from pclab.cloud.endpoint import EndpointLost
from pclab.cloud.executions import Execution
from pclab.cloud.progress import progress_bar, spinner
from pclab.cloud.stack import FunctionFacts, Target

T = TypeVar("T")
NOT_READ = "not read: the endpoint stopped answering (see the report's `incomplete`)"


@dataclass
class Gathered:
    batches: list[SourceBatch] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)  # relative file name -> document
    lost: str | None = None  # why the endpoint was given up, if it was
    missing: list[str] = field(default_factory=list)  # "<source> <run or function>" not read
    metrics: list[MetricsView] = field(default_factory=list)  # CloudWatch's view, per target

    def keep(self, collected: collect.Collected) -> None:
        self.batches.append(collected.batch)
        self.raw.update(collected.raw)

    def step(self, what: Sequence[str], read: Callable[[], T], absent: Callable[[], T]) -> T:
        """``read()`` unless the endpoint is lost (then, or if it is lost now, ``absent()``)."""
        if self.lost is None:
            try:
                return read()
            except EndpointLost as error:
                self.lost = str(error)
        self.missing.extend(what)
        return absent()


def _absent(source: Source, origin: str) -> collect.Collected:
    batch = SourceBatch(source=source, provided=False, note=NOT_READ, origin=origin)
    return collect.Collected(batch, {})


def gather(
    clients: Clients,
    runs: Sequence[Execution],
    facts: dict[str, FunctionFacts],
    policy: collect.PollPolicy,
    console: Console,
    *,
    lost: str | None = None,
) -> Gathered:
    """Every source of ``runs``; ``lost`` (the endpoint already given up) reads nothing remote."""
    found = Gathered(lost=lost)
    if clients.watch is not None:
        clients.watch.doing = "collecting the sources"
    with progress_bar(console) as progress:
        with spinner(progress, "execution output and history"):
            # the output is in the last DescribeExecution reply: nothing to call
            outputs = [collect.execution_output(execution) for execution in runs]
            for collected in outputs:
                found.keep(collected)
            for execution in runs:
                machine = execution.target.run_name
                found.keep(
                    found.step(
                        [f"{Source.EXECUTION_HISTORY} {machine}"],
                        partial(collect.execution_history, clients, execution),
                        partial(
                            _absent,
                            Source.EXECUTION_HISTORY,
                            f"GetExecutionHistory {execution.name}",
                        ),
                    )
                )
        request_ids: dict[str, set[str]] = {}
        for execution, collected in zip(runs, outputs, strict=True):
            ids = {r.request_id for r in collected.batch.invocations if r.request_id}
            request_ids.setdefault(execution.target.label, set()).update(ids)
        calls = sum(len(ids) for ids in request_ids.values())
        with spinner(progress, "X-Ray traces") as task:

            def xray_count(count: int) -> None:
                progress.update(task, description=f"X-Ray traces: {count} segments")

            for collected in found.step(
                [f"{Source.XRAY} {e.target.run_name}" for e in runs],
                lambda: collect.xray(clients, runs, calls or None, policy, on_poll=xray_count),
                lambda: [_absent(Source.XRAY, f"BatchGetTraces {e.name}") for e in runs],
            ):
                found.keep(collected)
        window = (
            min(e.started_at for e in runs),
            max(e.ended_at or time.time() for e in runs),
        )
        for target in {execution.target.label: execution.target for execution in runs}.values():
            with spinner(progress, f"CloudWatch Logs {target.function_name}") as task:

                def log_count(
                    count: int, task: TaskID = task, name: str = target.function_name
                ) -> None:
                    progress.update(
                        task, description=f"CloudWatch Logs {name}: {count} REPORT lines"
                    )

                found.keep(
                    found.step(
                        [f"{Source.LOGS} {target.function_name}"],
                        partial(
                            collect.logs,
                            clients,
                            target,
                            facts[target.label],
                            window,
                            request_ids.get(target.label, set()),
                            policy,
                            on_poll=log_count,
                        ),
                        partial(
                            _absent,
                            Source.LOGS,
                            f"FilterLogEvents /aws/lambda/{target.function_name}",
                        ),
                    )
                )
        for target in {execution.target.label: execution.target for execution in runs}.values():
            calls = len(request_ids.get(target.label, ()))
            _metrics(found, clients, target, window, calls, policy, progress)
    return found


def _metrics(
    found: Gathered,
    clients: Clients,
    target: Target,
    window: tuple[float, float],
    calls: int,
    policy: collect.PollPolicy,
    progress: Progress,
) -> None:
    """The fifth source of one target, under its own spinner: invocations counted so far."""
    name = target.function_name
    with spinner(progress, f"CloudWatch metrics {name}") as task:

        def counted(count: int) -> None:
            goal = f" of {calls}" if calls else ""
            progress.update(
                task, description=f"CloudWatch metrics {name}: {count}{goal} invocations"
            )

        def absent() -> collect_metrics.MetricsCollected:
            view = MetricsView(
                name,
                target.qualifier,
                target.run_name,
                provided=False,
                note=NOT_READ,
                origin=f"GetMetricData AWS/Lambda {name}",
            )
            return collect_metrics.MetricsCollected(view, {})

        collected = found.step(
            [f"metrics {name}"],
            partial(
                collect_metrics.metrics,
                clients,
                target,
                window,
                calls or None,
                policy,
                on_poll=counted,
            ),
            absent,
        )
    found.metrics.append(collected.view)
    found.raw.update(collected.raw)
