"""What backends report reaches the terminal through the command layer: notes as lines, steps as bars."""

from __future__ import annotations

import logging

import pytest

from facefix.commands.progress import StepBar, _ConsoleNotes, show_backend_notes


@pytest.fixture
def notes():
    show_backend_notes()
    show_backend_notes()  # idempotent: one handler, so one line per note
    yield
    logger = logging.getLogger("facefix.backends")
    for handler in [h for h in logger.handlers if isinstance(h, _ConsoleNotes)]:
        logger.removeHandler(handler)


def test_a_backend_note_is_printed_once_with_its_label(notes, capsys):
    logging.getLogger("facefix.backends.example").warning("weights are %s", "CC-BY-NC-4.0", extra={"label": "licence"})
    logging.getLogger("facefix.backends.example").warning("runs on the CPU")
    logging.getLogger("facefix.backends.example").info("not for the user")
    err = capsys.readouterr().err
    assert err.count("licence: weights are CC-BY-NC-4.0") == 1
    assert err.count("note: runs on the CPU") == 1 and "not for the user" not in err


def test_step_bar_opens_on_the_first_step_and_closes_on_the_last():
    bar = StepBar()
    for done in range(4):
        bar("sampling", done, 3)
        assert (bar._bar is None) == (done == 3)
    bar("sampling", 0, 2)  # a run cut short by an error is replaced by the next one
    bar("sampling", 0, 2)
    bar("sampling", 2, 2)
    assert bar._bar is None
