"""The Trainer with the fusion recipe on a tiny config: loss goes down, resume is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.training import tiny_trainer, write_tiny_faces

from facefix.backends.fusion.training import FusionRecipe
from facefix.train.loop import Trainer


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return write_tiny_faces(tmp_path_factory.mktemp("faces"))


def _trainer(faces, out, **overrides) -> Trainer:
    settings = {"batch_size": 4, "checkpoint_every": 5, "train_backbone": True, "lr": 5e-4, **overrides}
    return tiny_trainer(FusionRecipe, faces, out, **settings)


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
