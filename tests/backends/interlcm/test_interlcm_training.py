"""The interlcm recipe on the tiny preset: the loss goes down, and only the two encoders change."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import shared_path
from helpers.training import tiny_trainer, write_tiny_faces
from interlcm_parts import one_thread  # noqa: F401 - autouse fixture

from facefix.backends.base import RestoreOptions
from facefix.backends.interlcm import InterLCMRestorer
from facefix.backends.interlcm.discriminator import PatchDiscriminator
from facefix.backends.interlcm.training import InterLCMRecipe


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return write_tiny_faces(tmp_path_factory.mktemp("faces"), count=4)


def _snapshot(recipe: InterLCMRecipe) -> dict[str, dict[str, torch.Tensor]]:
    return {role: {k: v.clone() for k, v in module.state_dict().items()}
            for role, module in recipe.pipeline.models.modules().items()}


@pytest.mark.slow
def test_ten_steps_lower_the_loss_and_change_only_the_encoders(faces, tmp_path):
    trainer = tiny_trainer(InterLCMRecipe, faces, tmp_path / "run", batch_size=2, grad_accumulation=1, max_steps=10,
                           lr=2e-3, checkpoint_every=10, gradient_checkpointing=True)
    recipe = trainer.recipe
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [2e-3]
    before = _snapshot(recipe)
    history = trainer.train()
    totals = [h["total"] for h in history]
    assert len(totals) == 10 and {"l1", "lpips"} <= set(history[0]) and "gan" not in history[0]
    assert np.mean(totals[-3:]) < np.mean(totals[:3])
    after = _snapshot(recipe)
    for role in ("visual_encoder", "spatial_encoder"):
        assert any(not torch.equal(before[role][k], after[role][k]) for k in before[role]), role
    for role in ("unet", "vae", "clip_vision"):
        for key, value in before[role].items():
            assert torch.equal(after[role][key], value), f"{role}.{key}"
    # the GAN has not started: the discriminator did not move and has no optimiser state
    assert not trainer.d_optimizer.state

    exported, metadata = recipe.export(trainer.ema)
    restorer = InterLCMRestorer.from_state_dict(exported, config=json.loads(metadata["interlcm"]),
                                                device=torch.device("cpu"), dtype=torch.float32,
                                                options=RestoreOptions(seed=0))
    assert restorer.restore(torch.rand(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_the_gan_term_and_discriminator_start_at_gan_start(faces, tmp_path):
    trainer = tiny_trainer(InterLCMRecipe, faces, tmp_path / "run", batch_size=1, max_steps=2, gan_start=1,
                           checkpoint_every=100)
    assert trainer.config.grad_accumulation == 1  # the tiny preset's (the paper preset's is 8)
    d_before = {k: v.clone() for k, v in trainer.recipe.discriminator.state_dict().items()}
    history = trainer.train()
    assert "gan" not in history[0] and "d_hinge" not in history[0]
    assert history[1]["gan"] != 0 and history[1]["d_hinge"] > 0
    assert not torch.equal(trainer.recipe.discriminator.state_dict()["main.0.weight"], d_before["main.0.weight"])
    assert trainer.config.lr == 5e-5 and trainer.config.betas == (0.9, 0.99) and trainer.config.ema_decay == 0.997


def test_discriminator_has_the_official_keys_and_a_30x30_logit_map():
    spec = json.loads(shared_path("reference", "interlcm", "discriminator.keys.json").read_text())["tensors"]
    network = PatchDiscriminator()
    assert {k: list(v.shape) for k, v in network.state_dict().items()} == spec
    network.load_state_dict({k: torch.zeros(s) for k, s in spec.items()}, strict=True)
    with torch.no_grad():
        assert network.eval()(torch.zeros(1, 3, 512, 512)).shape == (1, 1, 30, 30)


def test_cli_train_export_and_restore_with_the_exported_file(faces, tmp_path):
    from typer.testing import CliRunner

    from facefix.cli import app

    runner, run, exported = CliRunner(), tmp_path / "run", tmp_path / "interlcm.safetensors"
    result = runner.invoke(app, ["train", "--method", "interlcm", "--preset", "tiny", "--data", str(faces),
                                 "--out", str(run), "--max-steps", "1", "--batch-size", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["train", "export", str(run), "-o", str(exported)]).exit_code == 0
    result = runner.invoke(app, ["restore", "--aligned", "--backend", "interlcm", "--weights", str(exported),
                                 str(faces / "0.png"), "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "0.png").exists()
