"""The next step a user can take, added to errors the commands report.

The lower layers raise errors that say what went wrong; only the command line knows which option
the user would change, so the advice is added here.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from facefix.errors import CheckpointError, DownloadError, FacefixError


def download_hint(checkpoint_id: str) -> str:
    """The ways to get ``checkpoint_id`` without reaching its URL."""
    from facefix.backends import BACKENDS
    from facefix.face import DETECTORS

    group = checkpoint_id.partition(".")[0]
    if group in BACKENDS:
        local = "; or give a local file with --weights PATH"
    elif checkpoint_id in DETECTORS.values():
        local = "; or give a local file with --detector-weights PATH, or use --detector dlib (no download)"
    else:
        local = ""
    return (f"to work offline, set FACEFIX_MIRROR=URL (a mirror holding the file), or run `facefix models "
            f"download {checkpoint_id}` on a connected machine, copy its cache folder here and set "
            f"FACEFIX_OFFLINE=1{local}")


def with_hint(exc: Exception) -> str:
    """The one line the command line prints for ``exc``."""
    message = str(exc) if isinstance(exc, FacefixError) else f"{type(exc).__name__}: {exc}"
    line = message.splitlines()[0] if message.strip() else type(exc).__name__
    if isinstance(exc, DownloadError) and exc.checkpoint_id:
        line = f"{line}; {download_hint(exc.checkpoint_id)}"
    return line


def _loads(cls: Any, path: Path) -> bool:
    """Whether ``cls`` accepts the file, without downloading anything: a backend that accepts it and then
    asks for its other parts (InterLCM's frozen networks) has recognised it."""
    import torch

    offline = os.environ.get("FACEFIX_OFFLINE")
    os.environ["FACEFIX_OFFLINE"] = "1"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls.load(str(path), device=torch.device("cpu"))
    except DownloadError:
        return True
    except Exception:  # noqa: BLE001 - any other failure means "not this backend"
        return False
    finally:
        if offline is None:
            os.environ.pop("FACEFIX_OFFLINE", None)
        else:
            os.environ["FACEFIX_OFFLINE"] = offline
    return True


def fitting_backend(path: Path, tried: str) -> tuple[str, str] | None:
    """The other backend that loads the file at ``path``: (name, command), or None.

    Each backend infers its architecture from the tensors and rejects foreign keys early, so trying
    them in turn costs a fraction of a second unless one fits (then it builds that network once).
    """
    from facefix.backends import backend_class, inpainter_class, inpainter_names, restorer_names

    candidates = [(name, "restore", backend_class) for name in restorer_names() if name != tried]
    candidates += [(name, "inpaint", inpainter_class) for name in inpainter_names() if name != tried]
    for name, command, class_of in candidates:
        if _loads(class_of(name), path):
            return name, command
    return None


def load_model(cls: Any, weights: str | None, **kwargs: Any) -> Any:
    """``cls.load(weights, ...)``; a local file made for another backend says which one it fits."""
    try:
        return cls.load(weights, **kwargs)
    except CheckpointError as exc:
        path = Path(weights).expanduser() if weights else None
        if path is None or not path.is_file():
            raise
        line = str(exc).splitlines()[0]
        line = line if str(path) in line else f"{path}: {line}"
        fits = fitting_backend(path, cls.name)
        if fits is None:
            raise CheckpointError(line) from None
        name, command = fits
        how = f"use --backend {name}" if command == _command_of(cls) else f"use facefix {command} --backend {name}"
        raise CheckpointError(f"{line}; the file fits the {name} backend: {how}") from None


def _command_of(cls: Any) -> str:
    from facefix.backends.base import Inpainter

    return "inpaint" if issubclass(cls, Inpainter) else "restore"
