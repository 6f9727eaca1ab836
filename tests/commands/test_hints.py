"""Errors a user can fix say how: offline routes for downloads, the backend a checkpoint fits."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from facefix import hub
from facefix.backends import backend_class, inpainter_class
from facefix.cli import app
from facefix.commands.hints import download_hint, load_model
from facefix.errors import CheckpointError

TINY_MMRB = {"size": 64, "style_dim": 32, "n_mlp": 2, "channel_multiplier": 1, "narrow": 0.0625}


@pytest.fixture
def mmrb_file(tmp_path):
    torch.manual_seed(0)
    network = backend_class("mmrb").from_config(TINY_MMRB).network
    return hub.save_state_dict(network.state_dict(), tmp_path / "gpen-tiny.safetensors")


def test_first_run_offline_without_cache_is_one_line_naming_every_route(tmp_path):
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), np.full((64, 64, 3), 128, np.uint8))
    env = {**os.environ, "FACEFIX_HOME": str(tmp_path / "empty-cache"), "FACEFIX_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "facefix", "restore", str(face), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for route in ("FACEFIX_MIRROR", "FACEFIX_OFFLINE=1", "facefix models download fusion.gfpgan-v1.4",
                  "--weights PATH"):
        assert route in lines[0]
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr


def test_failed_download_names_the_offline_routes(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "_candidate_urls", lambda checkpoint: ["http://127.0.0.1:9/unreachable.pth"])
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), np.full((64, 64, 3), 128, np.uint8))
    result = CliRunner().invoke(app, ["restore", str(face), "-o", str(tmp_path / "out"), "--aligned"])
    assert result.exit_code == 1
    assert "download failed from http://127.0.0.1:9/unreachable.pth" in result.output
    assert "FACEFIX_MIRROR" in result.output and "--weights PATH" in result.output


def test_detector_downloads_suggest_detector_weights_and_dlib():
    hint = download_hint("face.retinaface-resnet50")
    assert "--detector-weights PATH" in hint and "--detector dlib" in hint and "--weights PATH" not in hint.replace(
        "--detector-weights PATH", "")


def test_a_checkpoint_of_another_backend_names_the_backend_it_fits(mmrb_file):
    with pytest.raises(CheckpointError, match=r"gpen-tiny.safetensors: .*fits the mmrb backend: use --backend mmrb"):
        load_model(backend_class("fusion"), str(mmrb_file))
    with pytest.raises(CheckpointError, match="fits the mmrb backend: use facefix restore --backend mmrb"):
        load_model(inpainter_class("ddpm"), str(mmrb_file))


def test_a_checkpoint_of_no_backend_says_only_what_is_wrong(tmp_path):
    path = hub.save_state_dict({"conv.weight": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError) as excinfo:
        load_model(backend_class("fusion"), str(path))
    assert str(excinfo.value).startswith(f"{path}: ") and "--backend" not in str(excinfo.value)


def test_offline_recipe_copied_cache_or_named_files(tmp_path, mmrb_file, monkeypatch):
    """README "Offline machines": a copied cache, or --weights and --detector-weights, with FACEFIX_OFFLINE=1."""
    from conftest import shared_path

    detector_file = shared_path("data", "weights", "detection_mobilenet0.25_Final.pth")
    photo = shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", "00.jpg")
    monkeypatch.setenv("FACEFIX_OFFLINE", "1")
    common = ["restore", str(photo), "--backend", "mmrb", "--weights", str(mmrb_file), "--device", "cpu"]
    named = CliRunner().invoke(app, [*common, "--detector-weights", str(detector_file), "-o", str(tmp_path / "a")])
    assert named.exit_code == 0 and "1 restored" in named.output, named.output
    cached = hub.checkpoint_path(hub.get_checkpoint("face.retinaface-mobile0.25"))  # as `models path` prints it
    cached.parent.mkdir(parents=True)
    cached.write_bytes(detector_file.read_bytes())
    copied = CliRunner().invoke(app, [*common, "--detector", "retinaface_mobile0.25", "-o", str(tmp_path / "b")])
    assert copied.exit_code == 0 and "1 restored" in copied.output, copied.output
