"""A tiny training set, light loss networks and a Trainer factory shared by the training tests."""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import cv2
import numpy as np
import torch
from torch import nn

from facefix.train.data import DegradedFaces, list_faces
from facefix.train.loop import Trainer


def write_tiny_faces(folder: Path, count: int = 8, size: int = 64) -> Path:
    """Smooth random 'faces' (blurred noise) at ``size`` px."""
    rng = np.random.default_rng(0)
    for i in range(count):
        image = cv2.GaussianBlur(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), (9, 9), 3)
        cv2.imwrite(str(folder / f"{i}.png"), image)
    return folder


def _narrow_vgg19(*args, **kwargs) -> SimpleNamespace:
    # VGG-19's layer sequence (so the loss's tap indices hold) with an eighth of the channels.
    from torchvision.models.vgg import cfgs, make_layers

    return SimpleNamespace(features=make_layers([c if c == "M" else c // 8 for c in cfgs["E"]]))


class _TinyEmbedder(nn.Module):
    """Stands in for ArcFace IR-SE50: (B, 3, 112, 112) -> (B, 32) embeddings, no batch statistics."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 4, stride=4), nn.ReLU(), nn.Conv2d(16, 32, 4, stride=4),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def light_loss_networks() -> ExitStack:
    """While active, the VGG-19 and ArcFace loss networks (random weights) are narrow stand-ins.

    The real ones cost about 7 s per tiny step on one CPU thread; the training-framework tests need only
    that the losses are computed, differentiable and deterministic. Patched where the losses import them.
    """
    stack = ExitStack()
    stack.enter_context(mock.patch("torchvision.models.vgg19", _narrow_vgg19))
    stack.enter_context(mock.patch("facexlib.recognition.arcface_arch.Backbone", _TinyEmbedder))
    return stack


def tiny_trainer(recipe_class, faces: Path, out: Path, **settings) -> Trainer:
    """A Trainer for ``recipe_class`` on the tiny preset, CPU, random-weight loss networks."""
    defaults = {"data": str(faces), "out": str(out), "preset": "tiny", "size": 64, "workers": 0,
                "log_every": 1, "pretrained_losses": False, "tensorboard": False}
    known = {f.name for f in dataclasses.fields(recipe_class.config_class)}
    config = recipe_class.config_class(**{k: v for k, v in {**defaults, **settings}.items() if k in known})
    torch.manual_seed(0)
    recipe = recipe_class(config, torch.device("cpu"))
    dataset = DegradedFaces(list_faces(config.data), size=config.size, degradation=recipe.degradation,
                            seed=config.seed)
    return Trainer(recipe, dataset)
