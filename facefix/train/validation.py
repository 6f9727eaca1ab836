"""Validation on a held-out folder: PSNR and LPIPS of the EMA generator, and a sample grid.

The low-quality inputs are synthesised once per validation from a fixed seed (epoch 0, no flips), so every
validation of a run - and of any run with the same seed - scores the same inputs. Faces are restored the
way the recipe says (:meth:`~facefix.train.recipe.TrainRecipe.validation_restorer`: by default the
method's inference backend built from the exported EMA weights, i.e. what ``facefix restore --weights``
would give). Validation runs under its own random state, so it never changes the training that follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facefix.quality.metrics import LPIPSMetric, psnr
from facefix.train.data import DegradedFaces
from facefix.train.recipe import TrainRecipe

#: faces shown in the sample grid (one row each: lq | output | gt)
GRID_FACES = 4


@dataclass
class ValidationResult:
    metrics: dict[str, float]
    grid: np.ndarray | None  # uint8 RGB (H, W, 3), or None when validation was skipped
    note: str = ""


def to_uint8_bgr(images: torch.Tensor) -> list[np.ndarray]:
    """RGB tensors in [0, 1], (B, 3, H, W) -> uint8 BGR arrays, as the metrics take them."""
    array = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(a[..., ::-1]) for a in array]


class Validator:
    """Scores a recipe's generator on ``files`` (aligned faces at the training size)."""

    def __init__(self, recipe: TrainRecipe, files: list[Path], *, lpips: bool):
        config = recipe.config
        self.recipe = recipe
        self.faces = DegradedFaces(files, size=config.size, degradation=recipe.degradation, seed=config.seed,
                                   flip=False)
        self.batch_size = config.batch_size
        self._lpips_wanted = lpips
        self._lpips: LPIPSMetric | None = None

    def _batches(self):
        for start in range(0, len(self.faces), self.batch_size):
            items = [self.faces[i] for i in range(start, min(start + self.batch_size, len(self.faces)))]
            yield {key: torch.stack([item[key] for item in items]) for key in items[0]}

    def run(self, generator: torch.nn.Module) -> ValidationResult:
        # A fork of the random state: building the restorer and LPIPS draws random initial weights.
        devices = [self.recipe.device] if self.recipe.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return self._run(generator)

    def _run(self, generator: torch.nn.Module) -> ValidationResult:
        restore = self.recipe.validation_restorer(generator)
        if restore is None:
            return ValidationResult({}, None, f"validation skipped: the {self.recipe.name} recipe has no restorer")
        if self._lpips_wanted and self._lpips is None:
            self._lpips = LPIPSMetric(self.recipe.device)
        scores: dict[str, list[float]] = {"psnr": [], "lpips": []}
        rows = []
        for batch in self._batches():
            with torch.no_grad():
                output = restore(batch["lq"].to(self.recipe.device))
            for lq, out, gt in zip(*(to_uint8_bgr(x) for x in (batch["lq"], output, batch["gt"]))):
                scores["psnr"].append(psnr(out, gt))
                if self._lpips is not None:
                    scores["lpips"].append(self._lpips(out, gt))
                if len(rows) < GRID_FACES:
                    rows.append(np.concatenate([lq, out, gt], axis=1))
        metrics = {f"val_{name}": float(np.mean(values)) for name, values in scores.items() if values}
        note = "" if self._lpips is not None else "LPIPS skipped: it needs pretrained weights (pretrained_losses)"
        grid = np.ascontiguousarray(np.concatenate(rows, axis=0)[..., ::-1])
        return ValidationResult(metrics, grid, note)
