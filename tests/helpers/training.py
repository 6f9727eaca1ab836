"""A tiny training set and a Trainer factory shared by the recipe tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import torch

from facefix.train.data import DegradedFaces, list_faces
from facefix.train.loop import Trainer


def write_tiny_faces(folder: Path, count: int = 8, size: int = 64) -> Path:
    """Smooth random 'faces' (blurred noise) at ``size`` px."""
    rng = np.random.default_rng(0)
    for i in range(count):
        image = cv2.GaussianBlur(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), (9, 9), 3)
        cv2.imwrite(str(folder / f"{i}.png"), image)
    return folder


def tiny_trainer(recipe_class, faces: Path, out: Path, **settings) -> Trainer:
    """A Trainer for ``recipe_class`` on the tiny preset, CPU, random-weight loss networks."""
    defaults = {"data": str(faces), "out": str(out), "preset": "tiny", "size": 64, "workers": 0,
                "log_every": 1, "pretrained_losses": False}
    known = {f.name for f in dataclasses.fields(recipe_class.config_class)}
    config = recipe_class.config_class(**{k: v for k, v in {**defaults, **settings}.items() if k in known})
    torch.manual_seed(0)
    recipe = recipe_class(config, torch.device("cpu"))
    dataset = DegradedFaces(list_faces(faces), size=config.size, degradation=recipe.degradation, seed=config.seed)
    return Trainer(recipe, dataset)
