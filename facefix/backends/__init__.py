"""The backend table: the one place a backend is registered (besides its ``weights/<name>.toml``).

Each row names, as ``"module:attribute"`` strings, what a backend offers: a :class:`Restorer`, an
:class:`Inpainter`, a training recipe and the numbers its papers print. Nothing is imported until it
is used, so reading the table (``facefix --help``, option choices) imports no torch. Nothing scans
folders and nothing registers itself on import: adding a backend is its folder under
``facefix/backends/``, one row here and one TOML file in ``weights/``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facefix.errors import FacefixError

if TYPE_CHECKING:
    from facefix.backends.base import Inpainter, Restorer, RestoreOptions
    from facefix.train.recipe import TrainRecipe


@dataclass(frozen=True)
class Backend:
    """What one backend offers, each as ``"module:attribute"`` (None: it does not offer that)."""

    restorer: str | None = None  #: its Restorer class (``facefix restore``, ``eval``, ``bench``)
    inpainter: str | None = None  #: its Inpainter class (``facefix inpaint``)
    recipe: str | None = None  #: its TrainRecipe class (``facefix train --method``)
    paper_rows: str | None = None  #: its papers' printed numbers, plain data (``facefix eval --paper-set``)


BACKENDS: dict[str, Backend] = {
    "fusion": Backend(restorer="facefix.backends.fusion:FusionRestorer",
                      recipe="facefix.backends.fusion.training:FusionRecipe",
                      paper_rows="facefix.backends.fusion.paper:PAPER_ROWS"),
    "mmrb": Backend(restorer="facefix.backends.mmrb:MMRBRestorer",
                    recipe="facefix.backends.mmrb.training:MMRBRecipe",
                    paper_rows="facefix.backends.mmrb.paper:PAPER_ROWS"),
    "interlcm": Backend(restorer="facefix.backends.interlcm:InterLCMRestorer",
                        inpainter="facefix.backends.interlcm:InterLCMInpainter",
                        recipe="facefix.backends.interlcm.training:InterLCMRecipe",
                        paper_rows="facefix.backends.interlcm.paper:PAPER_ROWS"),
    "ddpm": Backend(inpainter="facefix.backends.ddpm:DDPMInpainter",
                    recipe="facefix.backends.ddpm.training:DDPMRecipe",
                    paper_rows="facefix.backends.ddpm.paper:PAPER_ROWS"),
}


def _names(role: str) -> list[str]:
    return [name for name, backend in BACKENDS.items() if getattr(backend, role)]


def restorer_names() -> list[str]:
    """Backends that restore faces, in table order."""
    return _names("restorer")


def inpainter_names() -> list[str]:
    """Backends that fill masked regions."""
    return _names("inpainter")


def recipe_names() -> list[str]:
    """Backends that can be trained."""
    return _names("recipe")


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _offered(name: str, role: str, refusal: str) -> Any:
    """What ``name``'s row offers as ``role``, imported; else a FacefixError of ``refusal`` and the choices."""
    target = getattr(BACKENDS[name], role) if name in BACKENDS else None
    if target is None:
        raise FacefixError(f"{refusal} ({', '.join(_names(role))})")
    return _import(target)


def backend_class(name: str) -> type[Restorer]:
    return _offered(name, "restorer", f"unknown backend {name!r} (choose from")


def inpainter_class(name: str) -> type[Inpainter]:
    return _offered(name, "inpainter", f"backend {name!r} cannot inpaint (choose from")


def recipe_class(method: str) -> type[TrainRecipe]:
    return _offered(method, "recipe", f"method {method!r} has no training recipe (available:")


def paper_rows(name: str) -> list[dict]:
    """The numbers ``name``'s papers print, as plain dicts (see :mod:`facefix.eval.paper`); [] if none."""
    target = BACKENDS[name].paper_rows if name in BACKENDS else None
    return list(_import(target)) if target else []


def load_restorer(backend: str = "fusion", weights: str | Path | None = None, **kwargs: Any) -> Restorer:
    """Load a backend by name with a registry id, a file path, or its default checkpoint; ``kwargs``:
    ``device``, ``dtype`` and ``options`` of :meth:`Restorer.load`."""
    return backend_class(backend).load(weights, **kwargs)


def load_inpainter(backend: str = "ddpm", weights: str | Path | None = None, **kwargs: Any) -> Inpainter:
    """As :func:`load_restorer`, for a backend that inpaints."""
    return inpainter_class(backend).load(weights, **kwargs)


def __getattr__(name: str) -> Any:
    # The interface classes live in facefix.backends.base (which imports torch): loaded when first asked for.
    if name in ("Inpainter", "Restorer", "RestoreOptions", "StepCallback"):
        from facefix.backends import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BACKENDS", "Backend", "Inpainter", "RestoreOptions", "Restorer", "StepCallback", "backend_class",
           "inpainter_class", "inpainter_names", "load_inpainter", "load_restorer", "paper_rows", "recipe_class",
           "recipe_names", "restorer_names"]
