"""`facefix inpaint` end to end on a tiny random model: real masked faces, whole photos, bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_path
from helpers.ddpm import write_tiny_ddpm
from typer.testing import CliRunner

from facefix.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    return write_tiny_ddpm(tmp_path_factory.mktemp("weights") / "tiny_ddpm.safetensors")


def _inpaint(*args):
    return runner.invoke(app, ["inpaint", *map(str, args), "--steps", "3", "--seed", "1", "--device", "cpu"],
                         env={"COLUMNS": "200"})


def test_real_masked_faces_with_their_masks_keep_every_known_pixel(tiny_weights, tmp_path):
    faces = shared_path("data", "real", "CodeFormer", "inputs", "masked_faces")
    masks = shared_path("data", "real", "CodeFormer", "derived", "masked_faces_masks")
    result = _inpaint(faces, "--mask", masks, "--aligned", "--weights", tiny_weights, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    for source in sorted(faces.glob("*.png")):
        before = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
        after = cv2.imread(str(tmp_path / "out" / source.name), cv2.IMREAD_UNCHANGED)
        hole = cv2.imread(str(masks / source.name), cv2.IMREAD_GRAYSCALE) > 0
        assert after.shape == before.shape
        assert np.array_equal(after[~hole], before[~hole]), source.name
        assert np.abs(after[hole].astype(int) - before[hole]).mean() > 5, source.name  # the hole was filled


def test_white_mask_option_equals_the_derived_masks(tiny_weights, tmp_path):
    faces = shared_path("data", "real", "CodeFormer", "inputs", "masked_faces")
    masks = shared_path("data", "real", "CodeFormer", "derived", "masked_faces_masks")
    name = "00105.png"
    assert _inpaint(faces / name, "--mask", "white", "--aligned", "--weights", tiny_weights,
                    "-o", tmp_path / "white").exit_code == 0
    assert _inpaint(faces / name, "--mask", masks / name, "--aligned", "--weights", tiny_weights,
                    "-o", tmp_path / "file", "--batch-size", "1").exit_code == 0  # auto above: the same pixels
    assert np.array_equal(cv2.imread(str(tmp_path / "white" / name)), cv2.imread(str(tmp_path / "file" / name)))


def test_whole_photo_fills_only_the_masked_face_regions(tiny_weights, tmp_path):
    photo = shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", "00.jpg")
    detector = shared_path("data", "weights", "detection_mobilenet0.25_Final.pth")
    result = _inpaint(photo, "--mask", "center", "--weights", tiny_weights, "-o", tmp_path,
                      "--detector", "retinaface_mobile0.25", "--detector-weights", detector)
    assert result.exit_code == 0, result.output
    before = cv2.imread(str(photo))
    after = cv2.imread(str(tmp_path / "00.jpg"))
    assert after.shape == before.shape
    height, width = before.shape[:2]
    outside = np.ones((height, width), bool)
    outside[height // 4: height // 4 + height // 2, width // 4: width // 4 + width // 2] = False
    # JPEG re-encoding moves pixels a little; the known region must not be repainted
    assert np.abs(after[outside].astype(int) - before[outside]).mean() < 3
    assert "outside every detected face" in result.output  # the centre box also covers background


def test_missing_mask_and_unreadable_image_are_one_line_errors(tiny_weights, tmp_path):
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    missing = _inpaint(image, "--mask", tmp_path / "nope.png", "--aligned", "--weights", tiny_weights)
    assert missing.exit_code == 1 and "no such mask" in missing.output and "Traceback" not in missing.output
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    result = _inpaint(broken, "--mask", "center", "--aligned", "--weights", tiny_weights, "-o", tmp_path / "out")
    assert result.exit_code == 1 and "broken.png: not an image or video" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "broken.png").exists()
