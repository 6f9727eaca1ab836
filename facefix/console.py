"""Terminal output: status on stderr through rich, progress bars, one-line errors.

Messages are plain text: ``[offline]`` in a message is printed as written, never read as rich markup.
``--quiet`` silences :data:`console` (status, progress, warnings); errors still print.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, highlight=False)
#: errors print even under --quiet
_errors = Console(stderr=True, highlight=False)


def set_quiet(quiet: bool) -> None:
    console.quiet = quiet


def progress(*, transient: bool = False) -> Progress:
    """A progress bar for long work (files, frames, steps), drawn on stderr."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


def error(message: str) -> None:
    """Print a one-line error (``FILE: cause``)."""
    # Escaped: file names and hints may hold brackets (photo[1].jpg, pip install -e ".[ray]").
    _errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def info(message: str) -> None:
    console.print(message, soft_wrap=True, markup=False)
