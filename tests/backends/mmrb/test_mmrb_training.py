"""The mmrb recipe on a tiny config: loss goes down, FreezeD holds, per-part learning rates, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.training import tiny_trainer, write_tiny_faces
from typer.testing import CliRunner

from facefix.backends.mmrb import MMRBRestorer
from facefix.backends.mmrb.training import MMRBRecipe
from facefix.cli import app
from facefix.train.loop import Trainer


pytestmark = pytest.mark.usefixtures("light_losses")


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return write_tiny_faces(tmp_path_factory.mktemp("faces"))


def _trainer(faces, out, **overrides) -> Trainer:
    return tiny_trainer(MMRBRecipe, faces, out, **{"batch_size": 2, "checkpoint_every": 3, **overrides})


def test_twenty_cli_steps_lower_the_generator_loss_and_export_restores(faces, tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--method", "mmrb", "--preset", "tiny", "--data", str(faces),
                                      "--out", str(run), "--max-steps", "20", "--device", "cpu",
                                      "--set", "lr=2e-3", "--set", "log_every=1"])
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    totals = [entry["total"] for entry in log]
    assert len(totals) == 20
    assert np.mean(totals[-5:]) < np.mean(totals[:5])
    assert {"adv_global", "adv_local", "l1", "feature_matching", "identity", "d_global", "d_local"} <= set(log[0])
    exported = tmp_path / "mmrb.safetensors"
    assert CliRunner().invoke(app, ["train", "export", str(run), "-o", str(exported)]).exit_code == 0
    restorer = MMRBRestorer.load(str(exported))
    assert restorer.restore(torch.rand(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_freeze_d_blocks_get_no_gradient_no_optimizer_state_and_do_not_move(faces, tmp_path):
    trainer = _trainer(faces, tmp_path, max_steps=2)
    global_d = trainer.recipe.discriminator["global"]
    frozen = set(trainer.recipe.frozen_d)
    assert frozen and all(name.startswith(tuple(f"convs.{i}." for i in range(5))) for name in frozen)
    before = {k: v.clone() for k, v in global_d.state_dict().items()}
    trainer.train()
    optimised = {id(p) for group in trainer.d_optimizer.param_groups for p in group["params"]}
    for name, parameter in global_d.named_parameters():
        if name in frozen:
            assert parameter.grad is None, name
            assert id(parameter) not in optimised and parameter not in trainer.d_optimizer.state, name
            assert torch.equal(parameter, before[name]), name
        else:
            assert id(parameter) in optimised, name
    assert not torch.equal(global_d.state_dict()["final_linear.1.weight"], before["final_linear.1.weight"])


def test_learning_rates_per_part(faces, tmp_path):
    trainer = _trainer(faces, tmp_path, max_steps=0)
    lrs = {group["name"]: group["lr"] for group in trainer.optimizer.param_groups}
    assert lrs == {"codec": 2e-3, "prior": 2e-4, "noise": 2e-3}
    d_lrs = {group["name"]: group["lr"] for group in trainer.d_optimizer.param_groups}
    assert d_lrs == {"global_d": 2e-5, "local_d": 2e-3}
    noise = trainer.optimizer.param_groups[2]["params"]
    assert len(noise) == 1 + 2 * 4  # conv1 and two convs per resolution 8..64
    generator = trainer.recipe.generator
    assert sum(len(g["params"]) for g in trainer.optimizer.param_groups) == len(list(generator.parameters()))


def test_resumed_adversarial_run_matches_an_uninterrupted_one(faces, tmp_path):
    # 3 steps straight, or 2 + a resumed third (6 steps in all: each costs seconds on a CPU)
    straight = [h["total"] for h in _trainer(faces, tmp_path / "a", max_steps=3).train()]
    _trainer(faces, tmp_path / "b", max_steps=2, checkpoint_every=2).train()
    assert (tmp_path / "b" / "checkpoints" / "step_0000002" / "discriminator.safetensors").exists()
    resumed = [h["total"] for h in _trainer(faces, tmp_path / "b", max_steps=3, checkpoint_every=2)
               .train(resume=True)]
    assert len(resumed) == 1 and resumed == pytest.approx(straight[2:], rel=1e-6)
