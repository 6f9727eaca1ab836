"""`facefix eval` end to end on CPU with a small GFPGAN-format network."""

from __future__ import annotations

import json

import torch
from conftest import shared_path
from typer.testing import CliRunner

from facefix.cli import app

runner = CliRunner()


def test_eval_on_lfw_with_synthesized_pairs(tmp_path):
    lfw = shared_path("data", "faces", "lfw")
    golden = torch.load(shared_path("reference", "gfpgan_clean_small.golden.pt"), weights_only=True)
    torch.save({"params_ema": golden["state_dict"]}, tmp_path / "tiny.pth")
    result = runner.invoke(app, ["eval", "--dataset", str(lfw), "--synthesize", "--backend", "fusion",
                                 "--weights", str(tmp_path / "tiny.pth"), "--limit", "20", "--device", "cpu",
                                 "--output", str(tmp_path / "scores.json"), "--results", str(tmp_path / "out")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert len(scores["images"]) == 20
    assert set(scores["mean"]) == {"psnr", "ssim"}  # NIQE needs 96-px blocks; this network makes 64-px faces
    assert all(img["niqe"] is None for img in scores["images"].values())
    assert 0 < scores["mean"]["ssim"] < 1 and scores["mean"]["psnr"] > 0
    assert len(list((tmp_path / "out").rglob("*.png"))) == 20


def test_reference_metrics_without_ground_truth_are_refused(tmp_path):
    golden = torch.load(shared_path("reference", "gfpgan_clean_small.golden.pt"), weights_only=True)
    torch.save({"params_ema": golden["state_dict"]}, tmp_path / "tiny.pth")
    faces = shared_path("data", "real", "GFPGAN", "inputs", "cropped_faces")
    result = runner.invoke(app, ["eval", "--dataset", str(faces), "--weights", str(tmp_path / "tiny.pth"),
                                 "--metrics", "psnr", "--device", "cpu"])
    assert result.exit_code == 1 and "need ground truth" in result.output
