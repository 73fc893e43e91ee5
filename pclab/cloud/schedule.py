"""Start a run's executions when each is due, and follow them until every one has ended.

A run that one execution cannot hold (:mod:`pclab.cloud.parts`) starts the parts of its first
arrival window at once and later windows just in time: each execution's lead before its window's
first arrival, counted from the run's one arrival zero. Between starts the runner keeps polling
the executions already running (the bar moves, a lost endpoint is noticed) and shows how long
until the next window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.progress import Progress, TaskID

from pclab.cloud import executions
from pclab.cloud.aws import Clients
from pclab.cloud.executions import Execution
from pclab.cloud.input import ExecutionInput, arrival_span, arrival_zero
from pclab.cloud.parts import Part
from pclab.cloud.stack import Target

# start one part on a target, with the run's arrival zero (None: a burst, nothing to stamp)
# Start one (part, target) with the run's arrival zero; None when the start was refused after
# others had started (the refusal is recorded by the launcher): nothing more is started.
Launch = Callable[[Target, Part, int | None], Execution | None]


def run_zero(run_input: ExecutionInput, first: Sequence[Part], now: float) -> int | None:
    """The run's arrival zero if its items arrive over time: the first window's largest lead
    from ``now``, so each of its parts, started now, has its lead."""
    if arrival_span(run_input) is None:
        return None
    return arrival_zero(now, max(len(part.run_input.items) for part in first))


def on_schedule(
    clients: Clients,
    run_input: ExecutionInput,
    poll_seconds: float,
    progress: Progress,
    schedule: Sequence[tuple[Part, Target]],
    launch: Launch,
    show: executions.ProgressCallback,
) -> None:
    """Start each (part, target) when due (the first window at once), following the executions
    started meanwhile, until every one has ended."""
    now = time.time()
    zero = run_zero(run_input, [part for part, _ in schedule if part.window == 0], now)
    due = sorted(
        (
            (now if zero is None or part.anchor_s == 0 else part.due(zero), part, target)
            for part, target in schedule
        ),
        key=lambda entry: entry[0],
    )
    started: list[Execution] = []
    waiting: TaskID | None = None
    windows = 1 + max(part.window for part, _ in schedule)
    while True:
        while due and due[0][0] <= time.time():
            _, part, target = due.pop(0)
            execution = launch(target, part, zero)
            if execution is None:  # refused: follow what started, start nothing more
                due.clear()
                break
            started.append(execution)
        running = [e for e in started if not e.finished]
        if not due:
            if waiting is not None:
                progress.update(waiting, completed=windows, description="arrival windows")
            executions.wait(clients, running, poll_seconds=poll_seconds, on_progress=show)
            return
        pause = max(0.0, due[0][0] - time.time())
        next_window = due[0][1].window
        if waiting is None:
            waiting = progress.add_task("arrival windows", total=windows)
        progress.update(
            waiting,
            completed=next_window,
            description=f"window {next_window + 1} of {windows} starts in {pause:.0f} s",
        )
        if running:
            executions.wait(
                clients,
                running,
                poll_seconds=poll_seconds,
                timeout_seconds=min(pause, 1.0),
                on_progress=show,
            )
        else:
            time.sleep(min(pause, 1.0))
