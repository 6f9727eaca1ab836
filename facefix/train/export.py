"""`facefix train export`: a checkpoint's EMA generator, written as its recipe's inference file.

The recipe decides what an inference file holds (which parts, which metadata: see
:meth:`~facefix.train.recipe.TrainRecipe.export`), so the recipe is rebuilt from the config saved with the
checkpoint, on the CPU, and given the EMA weights. The file is then exactly what validation scored.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import torch

from facefix import hub
from facefix.errors import FacefixError
from facefix.train.config import apply_overrides
from facefix.train.loop import newest_checkpoint
from facefix.train.recipe import TrainRecipe

EMA_FILE = "ema.safetensors"


def find_checkpoint(run: Path) -> Path:
    """``run`` itself if it is a checkpoint folder, else the newest checkpoint of the run folder ``run``."""
    if (run / EMA_FILE).exists():
        return run
    newest = newest_checkpoint(run)
    if newest is None:
        raise FacefixError(f"{run}: no checkpoint found (expected {EMA_FILE} or checkpoints/step_*/{EMA_FILE})")
    return newest


#: a method name -> its recipe class (the backend table's ``recipe_class``; raises FacefixError if none)
RecipeLookup = Callable[[str], type[TrainRecipe]]


def rebuild_recipe(ema_file: Path, recipe_class: RecipeLookup) -> TrainRecipe:
    """The recipe of the run that wrote ``ema_file``, on the CPU, with the EMA weights as its generator."""
    weights = hub.load_state_dict(ema_file)  # first: a file that is no safetensors fails here, naming itself
    metadata = hub.read_metadata(ema_file)
    method = metadata.get("method")
    try:
        cls = recipe_class(str(method))
    except FacefixError as exc:
        raise FacefixError(f"{ema_file}: trained with method {method!r}, but {exc}") from None
    try:
        saved = json.loads(metadata.get("config", ""))
    except json.JSONDecodeError:
        saved = None
    if not isinstance(saved, dict):
        raise FacefixError(f"{ema_file}: no readable training config in its metadata")
    try:
        config = apply_overrides(cls.config_class(), saved, "saved config")
        # the losses play no part in the export: their pretrained weights need not be on this machine
        recipe = cls(dataclasses.replace(config, pretrained_losses=False), torch.device("cpu"))
    except FacefixError as exc:  # a bad config value, or an --init file that is gone
        raise FacefixError(f"{ema_file}: cannot rebuild its {method} recipe: {exc}") from None
    try:
        recipe.generator.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        # torch lists every missing key: keep the first few
        cause = textwrap.shorten(str(exc).partition("\n")[2] or str(exc), 200, placeholder=" ...")
        raise FacefixError(f"{ema_file}: does not fit the {method} network its config describes ({cause})") from None
    recipe.generator.eval().requires_grad_(False)  # as the Trainer's EMA copy
    return recipe


def export_run(run: Path, output: Path, recipe_class: RecipeLookup, *, overwrite: bool = False) -> Path:
    """Write ``recipe.export(ema)`` of the newest checkpoint of ``run`` to ``output``; returns the checkpoint."""
    if output.suffix != ".safetensors":
        raise FacefixError(f"{output}: an inference file is written as .safetensors (name it so)")
    if output.exists() and not overwrite:
        raise FacefixError(f"{output}: already exists (use --overwrite)")
    folder = find_checkpoint(run)
    recipe = rebuild_recipe(folder / EMA_FILE, recipe_class)
    weights, metadata = recipe.export(recipe.generator)
    hub.save_state_dict(weights, output, metadata, overwrite=overwrite)
    return folder
