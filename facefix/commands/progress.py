"""What backends report, shown on the terminal: their steps as progress bars, their notes as lines.

Backends never import the console (they sit below it): they call ``on_step(label, done, total)`` and
log to the ``facefix.backends`` logger; the commands connect both here.
"""

from __future__ import annotations

import logging

from rich.progress import Progress, TaskID

from facefix.console import console, progress


class StepBar:
    """A backend's ``on_step`` callback: one transient bar per run of steps (``done`` from 0 to ``total``)."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, label: str, done: int, total: int) -> None:
        if done == 0 and self._bar is not None:  # the previous run ended early (an error): start afresh
            self._close()
        if self._bar is None:
            self._bar = progress(transient=True)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total, status="")
        assert self._task is not None
        self._bar.update(self._task, completed=done)
        if done >= total:
            self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar = self._task = None


class _ConsoleNotes(logging.Handler):
    """Prints a backend's log record as ``note: message`` (or the record's ``label`` instead of note)."""

    def emit(self, record: logging.LogRecord) -> None:
        label = getattr(record, "label", "note")
        console.print(f"[yellow]{label}:[/] {record.getMessage()}", soft_wrap=True, markup=True, highlight=False)


def show_backend_notes() -> None:
    """Print what backends log at warning level or above (idempotent)."""
    logger = logging.getLogger("facefix.backends")
    if not any(isinstance(handler, _ConsoleNotes) for handler in logger.handlers):
        handler = _ConsoleNotes(logging.WARNING)
        logger.addHandler(handler)
