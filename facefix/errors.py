"""Errors a user can act on.

Every error the CLI reports as a single line derives from :class:`FacefixError`. Its message names the
file (or URL, or checkpoint id) and the cause; the CLI prints it without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class FacefixError(Exception):
    """Base class for errors shown to the user as one line."""


class InputError(FacefixError):
    """A user-supplied file cannot be read or used."""

    def __init__(self, path: str | Path, cause: str):
        self.path = Path(path)
        self.cause = cause
        super().__init__(f"{path}: {cause}")


class CheckpointError(FacefixError):
    """A checkpoint is unknown, unsafe, or does not match the architecture."""


class DownloadError(FacefixError):
    """A file could not be downloaded or failed verification.

    ``checkpoint_id`` names the registry entry that could not be fetched, so that the command line
    can add the ways to work without the network (:mod:`facefix.commands.hints`).
    """

    def __init__(self, message: str, *, checkpoint_id: str | None = None):
        self.checkpoint_id = checkpoint_id
        super().__init__(message)


class OfflineError(DownloadError):
    """A download was needed while FACEFIX_OFFLINE=1."""

