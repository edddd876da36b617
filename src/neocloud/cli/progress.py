"""Progress on long work: a rich spinner on standard error that names the current step and the time spent.

Shown only on a terminal; quiet with ``--json`` (the output stays one JSON object) and when stderr is
not a terminal (logs and pipes get no control codes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


def progress_console() -> Console:
    """The console progress is drawn on: standard error."""
    return Console(stderr=True)


@contextmanager
def steps(title: str, quiet: bool = False, console: Console | None = None) -> Iterator[Callable[[str], None]]:
    """A spinner titled ``title``; the function it yields names the step now running.

    Each finished step stays on the screen with its time; nothing is drawn when ``quiet`` or when
    standard error is not a terminal.
    """
    console = console or progress_console()
    if quiet or not console.is_terminal:
        yield lambda _: None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        current: list[TaskID] = []

        def say(step: str) -> None:
            if current:
                bar.update(current[-1], completed=1, total=1)
                bar.stop_task(current[-1])
            current.append(bar.add_task(f"{title}: {step}", total=None))

        yield say
        if current:
            bar.update(current[-1], completed=1, total=1)
            bar.stop_task(current[-1])
