"""The runner's progress display: one rich progress bar per step, spinners for collection.

Progress is not the report: it is the runner's own account of what it is doing while it waits,
so it lives here (the report is rendered by the CLI from what the runner returns).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def spinner(progress: Progress, description: str) -> Iterator[TaskID]:
    task = progress.add_task(description, total=None)
    try:
        yield task
    finally:
        progress.update(task, total=1, completed=1)
