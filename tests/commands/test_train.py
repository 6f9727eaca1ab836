"""`facefix train` end to end on a tiny config, then `export` and `restore --weights` with the result."""

from __future__ import annotations

import cv2
import numpy as np
from typer.testing import CliRunner

from facefix.cli import app

runner = CliRunner()


def test_train_export_and_restore_with_the_trained_weights(tmp_path):
    faces = tmp_path / "faces"
    faces.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        cv2.imwrite(str(faces / f"{i}.png"), cv2.GaussianBlur(rng.integers(0, 255, (80, 80, 3), np.uint8), (9, 9), 3))
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--method", "fusion", "--data", str(faces), "--out", str(run),
                                 "--preset", "tiny", "--max-steps", "3", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (run / "config.json").exists() and (run / "checkpoints" / "step_0000003" / "state.pt").exists()

    weights = tmp_path / "trained.safetensors"
    assert runner.invoke(app, ["train", "export", str(run), "-o", str(weights)]).exit_code == 0
    assert runner.invoke(app, ["train", "export", str(run), "-o", str(weights)]).exit_code == 1  # never overwrites

    cv2.imwrite(str(tmp_path / "face.png"), cv2.imread(str(faces / "0.png")))
    result = runner.invoke(app, ["restore", "--aligned", "--weights", str(weights), str(tmp_path / "face.png"),
                                 "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "out" / "face.png")).shape == (64, 64, 3)


def test_unknown_config_key_is_rejected(tmp_path):
    result = runner.invoke(app, ["train", "--method", "fusion", "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                                 "--set", "learning_rate=1"])
    assert result.exit_code == 1 and "unknown config key(s) learning_rate" in result.output
