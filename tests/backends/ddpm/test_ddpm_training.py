"""The ddpm recipe on a tiny config: the masked loss goes down and the export inpaints."""

from __future__ import annotations

import json

import numpy as np
import torch
from helpers.training import write_tiny_faces
from typer.testing import CliRunner

from facefix.backends.ddpm import DDPMInpainter
from facefix.cli import app


def test_twenty_cli_steps_lower_the_masked_loss_and_the_export_inpaints(tmp_path):
    (tmp_path / "faces").mkdir()
    faces = write_tiny_faces(tmp_path / "faces")
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--method", "ddpm", "--preset", "tiny", "--data", str(faces),
                                      "--out", str(run), "--max-steps", "20", "--size", "32", "--batch-size", "2",
                                      "--device", "cpu",
                                      "--set", "lr=1e-3", "--set", "log_every=1"])
    assert result.exit_code == 0, result.output
    losses = [json.loads(line)["masked_mse"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 20
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    exported = tmp_path / "ddpm.safetensors"
    assert CliRunner().invoke(app, ["train", "export", str(run), "-o", str(exported)]).exit_code == 0
    inpainter = DDPMInpainter.load(str(exported))
    assert inpainter.face_size == 32 and inpainter.conditional
    assert inpainter.network.config.ffc
    faces_tensor = torch.rand(1, 3, 32, 32)
    masks = torch.zeros(1, 1, 32, 32)
    masks[..., 8:24, 8:24] = 1
    inpainter.options = inpainter.options.__class__(seed=0, steps=2)
    out = inpainter.inpaint(faces_tensor, masks)
    assert torch.equal(out * (1 - masks), faces_tensor * (1 - masks))
