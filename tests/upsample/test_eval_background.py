"""`facefix eval` and `facefix inpaint` on whole photos accept the background upsampler."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from facefix import backends
from facefix.cli import app
from facefix.upsample import RRDBConfig, load_upsampler
from facefix.upsample.network import build_rrdbnet

runner = CliRunner()


@pytest.fixture(autouse=True)
def _test_backend(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "fusion", backends.Backend(restorer="restorers:BrightenRestorer"))


class _NoFaces:
    def detect(self, image):
        return []


def test_whole_photos_get_the_upsampled_background(tmp_path, monkeypatch):
    from facefix.face import detect

    monkeypatch.setattr(detect, "load_detector", lambda *a, **k: _NoFaces())
    torch.manual_seed(1)
    weights = tmp_path / "tiny.pth"
    torch.save(build_rrdbnet(RRDBConfig(scale=2, num_feat=8, num_block=1, num_grow_ch=4)).state_dict(), weights)
    photos = tmp_path / "photos"
    photos.mkdir()
    y, x = np.mgrid[0:96, 0:192] / 192  # NIQE scores pictures of two 96-px blocks or more
    photo = ((np.stack([np.sin(6 * x), np.cos(5 * y), np.sin(4 * (x + y))], -1) + 1) * 120 + 5).astype(np.uint8)
    cv2.imwrite(str(photos / "p.png"), photo)
    result = runner.invoke(app, ["eval", "--dataset", str(photos), "--metrics", "niqe", "--bg-weights", str(weights),
                                 "--bg-tile", "32", "--output", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    expected = load_upsampler(weights, upscale=1, device=torch.device("cpu"), tile=32).enhance(photo, (192, 96))
    assert np.array_equal(cv2.imread(str(tmp_path / "out" / "p.png")), expected)


def test_inpaint_enlarges_whole_photos_with_the_upsampler(tmp_path, monkeypatch):
    from helpers.ddpm import write_tiny_ddpm

    from facefix.face import detect

    monkeypatch.setattr(detect, "load_detector", lambda *a, **k: _NoFaces())
    torch.manual_seed(2)
    weights = tmp_path / "tiny.pth"
    torch.save({"params": build_rrdbnet(RRDBConfig(scale=2, num_feat=8, num_block=1, num_grow_ch=4)).state_dict()},
               weights)
    photo = np.random.default_rng(0).integers(0, 256, (24, 36, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "p.png"), photo)
    common = ["inpaint", str(tmp_path / "p.png"), "--mask", "center", "--weights",
              str(write_tiny_ddpm(tmp_path / "ddpm.safetensors")), "--steps", "2", "--device", "cpu"]
    result = runner.invoke(app, [*common, "--upscale", "2", "--bg-weights", str(weights), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    expected = load_upsampler(weights, upscale=2, device=torch.device("cpu")).enhance(photo, (72, 48))
    assert np.array_equal(cv2.imread(str(tmp_path / "o" / "p.png")), expected)  # no face: nothing inpainted
    aligned = runner.invoke(app, [*common, "--aligned", "--upscale", "2", "-o", str(tmp_path / "a")])
    assert aligned.exit_code != 0 and "aligned crops keep their size" in aligned.output
