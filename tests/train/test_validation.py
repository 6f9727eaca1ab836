"""Validation on a held-out folder, TensorBoard and JSONL logs."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from helpers.training import tiny_trainer, write_tiny_faces

from facefix import hub
from facefix.backends import RestoreOptions, recipe_class, recipe_names, restorer_names
from facefix.backends.fusion import FusionRestorer
from facefix.backends.fusion.training import FusionRecipe
from facefix.quality.metrics import psnr
from facefix.train import validation
from facefix.train.data import DegradedFaces, list_faces
from facefix.train.validation import Validator, to_uint8_bgr

SIZE = 32


pytestmark = pytest.mark.usefixtures("light_losses")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    train = write_tiny_faces(tmp_path_factory.mktemp("train"), count=8, size=SIZE)
    held_out = tmp_path_factory.mktemp("val")
    rng = np.random.default_rng(1)
    for i in range(5):
        cv2.imwrite(str(held_out / f"v{i}.png"),
                    cv2.GaussianBlur(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8), (5, 5), 2))
    return train, held_out


class NoisyInputFusion(FusionRecipe):
    """Fusion with input noise from torch's global random state, which validation must leave alone."""

    def generator_loss(self, batch, step):
        return super().generator_loss({**batch, "lq": batch["lq"] + 0.05 * torch.randn_like(batch["lq"])}, step)


def _run(folders, out, recipe=FusionRecipe, **settings):
    train, held_out = folders
    trainer = tiny_trainer(recipe, train, out, size=SIZE, batch_size=4, max_steps=2, checkpoint_every=2,
                           **settings)
    return trainer, trainer.train()


def test_validation_scores_the_ema_generator_and_writes_a_grid(folders, tmp_path):
    _, held_out = folders
    trainer, history = _run(folders, tmp_path, val_data=str(held_out), val_every=2, tensorboard=True)
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    val = [r for r in records if "val_psnr" in r]
    assert len(val) == 1 and val[0]["step"] == 2 and "val_lpips" not in val[0]  # no pretrained LPIPS offline

    # the logged PSNR is that of the step-2 EMA weights, restored as `facefix restore --weights` would
    ema = hub.load_state_dict(tmp_path / "checkpoints" / "step_0000002" / "ema.safetensors")
    restorer = FusionRestorer.from_state_dict(ema, config=None, device=torch.device("cpu"), dtype=torch.float32,
                                              options=RestoreOptions(seed=0))
    faces = DegradedFaces(list_faces(held_out), size=SIZE, degradation=FusionRecipe.degradation, seed=0, flip=False)
    lq = torch.stack([faces[i]["lq"] for i in range(len(faces))])
    gt = torch.stack([faces[i]["gt"] for i in range(len(faces))])
    outputs = to_uint8_bgr(restorer.restore(lq))
    expected = np.mean([psnr(o, g) for o, g in zip(outputs, to_uint8_bgr(gt))])
    assert val[0]["val_psnr"] == pytest.approx(expected, abs=1e-6)

    grid = cv2.imread(str(tmp_path / "samples" / "step_0000002.png"))
    assert grid.shape == (validation.GRID_FACES * SIZE, 3 * SIZE, 3)
    lq_bgr, gt_bgr = to_uint8_bgr(lq), to_uint8_bgr(gt)
    for row in range(validation.GRID_FACES):
        cells = grid[row * SIZE:(row + 1) * SIZE]
        assert np.array_equal(cells[:, :SIZE], lq_bgr[row]) and np.array_equal(cells[:, 2 * SIZE:], gt_bgr[row])
        assert np.array_equal(cells[:, SIZE:2 * SIZE], outputs[row])

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert {"train/total", "train/lr", "val/psnr"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("train/total")] == [1, 2]
    assert "val/samples" in events.Tags()["images"]


def test_validation_does_not_change_training(folders, tmp_path):
    _, held_out = folders
    _, plain = _run(folders, tmp_path / "plain", NoisyInputFusion)
    _, validated = _run(folders, tmp_path / "validated", NoisyInputFusion, val_data=str(held_out), val_every=1)
    assert validated == plain


def test_lpips_is_scored_when_pretrained_weights_are_allowed(folders, monkeypatch):
    class FakeLPIPS:
        def __init__(self, device):
            pass

        def __call__(self, image, reference):
            return float(np.abs(image.astype(int) - reference).mean() / 255)

    monkeypatch.setattr(validation, "LPIPSMetric", FakeLPIPS)
    train, held_out = folders
    trainer = tiny_trainer(FusionRecipe, train, train.parent / "unused", size=SIZE)
    result = Validator(trainer.recipe, list_faces(held_out), lpips=True).run(trainer.ema)
    assert set(result.metrics) == {"val_psnr", "val_lpips"} and 0 < result.metrics["val_lpips"] < 1
    assert result.note == ""


@pytest.mark.parametrize("method", sorted(recipe_names()))
def test_every_recipe_validates_or_says_why_not(method, folders, tmp_path):
    train, held_out = folders
    trainer = tiny_trainer(recipe_class(method), train, tmp_path, size=SIZE, batch_size=2)
    result = Validator(trainer.recipe, list_faces(held_out), lpips=False).run(trainer.ema)
    if method not in restorer_names():  # inpainting-only methods
        assert result.metrics == {} and result.grid is None and "no restorer" in result.note
    else:
        assert np.isfinite(result.metrics["val_psnr"]) and result.grid.shape == (4 * SIZE, 3 * SIZE, 3)
