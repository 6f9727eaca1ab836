"""`facefix train` end to end on a tiny config, then `export` and `restore --weights` with the result."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from helpers.training import light_loss_networks, write_tiny_faces
from typer.testing import CliRunner

from facefix.cli import app
from facefix.face.align import ffhq_template
from facefix.face.detect import DetectedFace
from facefix.pipeline import from_tensor, to_tensor
from facefix.backends import recipe_class
from facefix.train.export import rebuild_recipe

runner = CliRunner()


@pytest.fixture(autouse=True)
def _light_losses():
    with light_loss_networks():
        yield


def test_train_export_and_restore_with_the_trained_weights(tmp_path):
    faces = tmp_path / "faces"
    faces.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        cv2.imwrite(str(faces / f"{i}.png"), cv2.GaussianBlur(rng.integers(0, 255, (80, 80, 3), np.uint8), (9, 9), 3))
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--method", "fusion", "--data", str(faces), "--output", str(run),
                                 "--preset", "tiny", "--max-steps", "3", "--device", "cpu", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["mixed_precision"] == "no"
    assert (run / "config.json").exists() and (run / "checkpoints" / "step_0000003" / "state.pt").exists()

    weights = tmp_path / "trained.safetensors"
    assert runner.invoke(app, ["train", "export", str(run), "-o", str(weights)]).exit_code == 0
    result = runner.invoke(app, ["train", "export", str(run), "-o", str(weights)])
    assert result.exit_code == 1 and f"{weights}: already exists" in result.output  # never overwrites
    result = runner.invoke(app, ["train", "export", str(faces), "-o", str(tmp_path / "other.safetensors")])
    assert result.exit_code == 1 and f"{faces}: no checkpoint found" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["train", "export", str(run), "-o", str(tmp_path)])  # a folder: RUN-NAME.safetensors
    assert result.exit_code == 0 and (tmp_path / "run.safetensors").is_file()

    face = cv2.resize(cv2.imread(str(faces / "0.png")), (64, 64), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "face.png"), face)
    result = runner.invoke(app, ["restore", "--aligned", "--weights", str(weights), str(tmp_path / "face.png"),
                                 "-o", str(tmp_path / "out"), "--device", "cpu", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    restored = cv2.imread(str(tmp_path / "out" / "face.png"))
    # what validation would have shown for this face, up to the 8-bit rounding of the written file
    recipe = rebuild_recipe(run / "checkpoints" / "step_0000003" / "ema.safetensors", recipe_class)
    expected = recipe.validation_restorer(recipe.generator)(to_tensor([face], 255, torch.device("cpu")))
    assert np.abs(restored.astype(np.float32) - from_tensor(expected, 255)[0]).max() <= 0.5 + 1e-3


def test_unknown_config_key_is_rejected(tmp_path):
    # -m and --out are the old spellings of --method and --output, kept for one release
    result = runner.invoke(app, ["train", "-m", "fusion", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                                 "--set", "learning_rate=1"])
    assert result.exit_code == 1 and "unknown config key(s) learning_rate" in result.output
    assert "--out is now --output" in result.output and "-m is now --method" in result.output


class _CornerFaceDetector:
    """A face in the top-left 64 px of every photo that is not all black."""

    def detect(self, image):
        if image.max() == 0:
            return []
        return [DetectedFace(box=np.float32([0, 0, 64, 64]), landmarks=ffhq_template(64), score=1.0)]


def test_align_and_validate_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setattr("facefix.face.detect.load_detector", lambda name, device=None: _CornerFaceDetector())
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, face in enumerate(sorted(write_tiny_faces(tmp_path, count=4, size=64).glob("*.png"))):
        canvas = np.full((100, 140, 3), 90, np.uint8)
        canvas[:64, :64] = cv2.imread(str(face))
        cv2.imwrite(str(photos / f"photo{i}.jpg"), canvas)
    cv2.imwrite(str(photos / "dark.png"), np.zeros((40, 40, 3), np.uint8))
    (tmp_path / "val").mkdir()
    held_out = write_tiny_faces(tmp_path / "val", count=2, size=32)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--method", "fusion", "--data", str(photos), "--out", str(run), "--align",
                                 "--val-data", str(held_out), "--preset", "tiny", "--size", "32", "--max-steps", "2",
                                 "--batch-size", "2", "--device", "cpu", "--set", "val_every=1"])
    assert result.exit_code == 0, result.output
    assert "no face found in 1 of 5 photos" in result.output and "validation psnr" in result.output
    config = json.loads((run / "config.json").read_text())
    assert config["align"] is True and config["val_data"] == str(held_out)
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000001.png", "step_0000002.png"]
    assert cv2.imread(str(run / "samples" / "step_0000001.png")).shape == (2 * 32, 3 * 32, 3)
