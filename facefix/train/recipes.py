"""The training recipes, by method name (an explicit map, imported on first use)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from facefix.errors import FacefixError

if TYPE_CHECKING:
    from facefix.train.recipe import TrainRecipe

RECIPES: dict[str, str] = {
    "fusion": "facefix.backends.fusion.training:FusionRecipe",
    "mmrb": "facefix.backends.mmrb.training:MMRBRecipe",
    "ddpm": "facefix.backends.ddpm.training:DDPMRecipe",
    "interlcm": "facefix.backends.interlcm.training:InterLCMRecipe",
}


def recipe_class(method: str) -> type[TrainRecipe]:
    try:
        module, _, attr = RECIPES[method].partition(":")
    except KeyError:
        raise FacefixError(f"--method {method}: no training recipe yet (available: {', '.join(RECIPES)})") from None
    return getattr(importlib.import_module(module), attr)
