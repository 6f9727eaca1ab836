"""The backend registry: an explicit map from name to class, imported on first use.

Adding a backend means one package under ``facefix/backends/`` and one line here. Nothing scans
folders and nothing registers itself on import.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facefix.errors import FacefixError

if TYPE_CHECKING:
    import torch

    from facefix.backends.base import Inpainter, Restorer, RestoreOptions

#: backend name -> "module:Class" of its :class:`Restorer` (``ddpm`` only inpaints: see INPAINTERS)
BACKENDS: dict[str, str] = {
    "fusion": "facefix.backends.fusion:FusionRestorer",
    "mmrb": "facefix.backends.mmrb:MMRBRestorer",
    "interlcm": "facefix.backends.interlcm:InterLCMRestorer",
}

#: backends that can fill masked regions (``facefix inpaint``): name -> "module:Class" of its Inpainter
INPAINTERS: dict[str, str] = {
    "ddpm": "facefix.backends.ddpm:DDPMInpainter",
    "interlcm": "facefix.backends.interlcm:InterLCMInpainter",
}


def _import(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def backend_class(name: str) -> type[Restorer]:
    try:
        return _import(BACKENDS[name])
    except KeyError:
        raise FacefixError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})") from None


def inpainter_class(name: str) -> type[Inpainter]:
    try:
        return _import(INPAINTERS[name])
    except KeyError:
        raise FacefixError(f"backend {name!r} cannot inpaint (choose from {', '.join(INPAINTERS)})") from None


def load_restorer(backend: str = "fusion", weights: str | Path | None = None, *,
                  device: torch.device | str = "cpu", dtype: torch.dtype | None = None,
                  options: RestoreOptions | None = None) -> Restorer:
    """Load a backend by name with a registry id, a file path, or its default checkpoint (dtype: fp32)."""
    return backend_class(backend).load(weights, device=device, options=options,
                                       **({"dtype": dtype} if dtype is not None else {}))


def load_inpainter(backend: str = "ddpm", weights: str | Path | None = None, *,
                   device: torch.device | str = "cpu", dtype: torch.dtype | None = None,
                   options: RestoreOptions | None = None) -> Inpainter:
    return inpainter_class(backend).load(weights, device=device, options=options,
                                         **({"dtype": dtype} if dtype is not None else {}))


def __getattr__(name: str) -> Any:
    # The interface classes live in facefix.backends.base (which imports torch): loaded when first asked for.
    if name in ("Inpainter", "Restorer", "RestoreOptions"):
        from facefix.backends import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BACKENDS", "INPAINTERS", "Inpainter", "RestoreOptions", "Restorer", "backend_class",
           "inpainter_class", "load_inpainter", "load_restorer"]
