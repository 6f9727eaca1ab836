"""The Trainer with the fusion recipe on a tiny config: the loss goes down, frozen parts stay frozen.

(Exact resume is tested for every recipe in test_recipes.py.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.training import tiny_trainer, write_tiny_faces

from facefix.backends.fusion.training import FusionRecipe
from facefix.errors import FacefixError
from facefix.train.distributed import DistributedContext
from facefix.train.loop import Trainer


pytestmark = pytest.mark.usefixtures("light_losses")


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return write_tiny_faces(tmp_path_factory.mktemp("faces"))


def _trainer(faces, out, **overrides) -> Trainer:
    settings = {"size": 32, "batch_size": 4, "checkpoint_every": 5, "train_backbone": True, "lr": 5e-4,
                **overrides}
    return tiny_trainer(FusionRecipe, faces, out, **settings)


def test_twenty_steps_lower_the_loss(faces, tmp_path):
    history = _trainer(faces, tmp_path, max_steps=20).train()
    losses = [h["total"] for h in history]
    assert len(losses) == 20
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [f"step_{s:07d}" for s in (5, 10, 15, 20)]
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 20


def test_frozen_backbone_trains_only_the_fusion_blocks(faces, tmp_path):
    trainer = _trainer(faces, tmp_path, max_steps=2, train_backbone=False)
    before = {k: v.clone() for k, v in trainer.recipe.generator.state_dict().items()}
    trainer.train()
    after = trainer.recipe.generator.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("fusion_blocks.") for k in changed)


def test_resume_without_a_checkpoint_is_a_one_line_error(faces, tmp_path):
    with pytest.raises(FacefixError, match="--resume given but no checkpoint found"):
        _trainer(faces, tmp_path, max_steps=1).train(resume=True)


def test_cosine_schedule_reaches_zero_at_the_last_step(faces, tmp_path):
    trainer = _trainer(faces, tmp_path, max_steps=4, lr_schedule="cosine", checkpoint_every=0)
    trainer.train()
    # the lr of step s is lr * (1 + cos(pi * (s - 1) / 4)) / 2: the last step (s = 4) used lr * 0.146
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(5e-4 * (1 + np.cos(np.pi * 3 / 4)) / 2)


def test_too_few_faces_for_one_global_batch_is_a_one_line_error(faces, tmp_path):
    trainer = _trainer(faces, tmp_path, max_steps=1)
    trainer.context = DistributedContext(rank=0, world_size=4)  # 4 x 4 faces per step, 8 in the set
    with pytest.raises(FacefixError, match=r"8 images are fewer than one step needs \(4 per process x 4 processes\)"):
        next(trainer._batches())


def test_resuming_with_another_process_count_keeps_the_data_position(faces, tmp_path):
    _trainer(faces, tmp_path, max_steps=3, checkpoint_every=3).train()
    state_file = tmp_path / "checkpoints" / "step_0000003" / "state.pt"
    state = torch.load(state_file, weights_only=True)
    state.update(world_size=2, random_states=state["random_states"] * 2)  # as if 2 processes had saved it
    torch.save(state, state_file)
    trainer = _trainer(faces, tmp_path, max_steps=3)
    note = trainer.resume(trainer.latest_checkpoint())
    assert "saved by 2 process(es), resumed by 1" in note
    assert (trainer.step, trainer.epoch, trainer.position) == (3, 1, 4)


def test_max_minutes_stops_early_with_a_checkpoint(faces, tmp_path):
    history = _trainer(faces, tmp_path, max_steps=50, checkpoint_every=0, max_minutes=1e-6).train()
    assert len(history) == 1  # the first step already outlasts the limit
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step_0000001"]
