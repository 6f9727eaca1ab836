"""The Trainer with the fusion recipe on a tiny config: loss goes down, resume is exact."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from facefix.backends.fusion.training import FusionRecipe, FusionTrainConfig
from facefix.train.data import DegradedFaces, list_faces
from facefix.train.loop import Trainer


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for i in range(8):
        image = cv2.GaussianBlur(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), (9, 9), 3)
        cv2.imwrite(str(folder / f"{i}.png"), image)
    return folder


def _trainer(faces, out, **overrides) -> Trainer:
    settings = {"data": str(faces), "out": str(out), "preset": "tiny", "size": 64, "batch_size": 4, "workers": 0,
                "checkpoint_every": 5, "log_every": 1, "pretrained_losses": False, "train_backbone": True,
                "lr": 5e-4, **overrides}
    config = FusionTrainConfig(**settings)
    torch.manual_seed(0)
    recipe = FusionRecipe(config, torch.device("cpu"))
    dataset = DegradedFaces(list_faces(faces), size=64, degradation=recipe.degradation, seed=config.seed)
    return Trainer(recipe, dataset)


def test_twenty_steps_lower_the_loss(faces, tmp_path):
    history = _trainer(faces, tmp_path, max_steps=20).train()
    losses = [h["total"] for h in history]
    assert len(losses) == 20
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert (tmp_path / "checkpoints" / "step_0000020" / "ema.safetensors").exists()
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 20


def test_resumed_run_matches_an_uninterrupted_one(faces, tmp_path):
    straight = [h["total"] for h in _trainer(faces, tmp_path / "a", max_steps=8).train()]
    _trainer(faces, tmp_path / "b", max_steps=5).train()
    resumed = [h["total"] for h in _trainer(faces, tmp_path / "b", max_steps=8).train(resume=True)]
    assert resumed == straight[5:]


def test_frozen_backbone_trains_only_the_fusion_blocks(faces, tmp_path):
    trainer = _trainer(faces, tmp_path, max_steps=2, train_backbone=False)
    before = {k: v.clone() for k, v in trainer.recipe.generator.state_dict().items()}
    trainer.train()
    after = trainer.recipe.generator.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("fusion_blocks.") for k in changed)
