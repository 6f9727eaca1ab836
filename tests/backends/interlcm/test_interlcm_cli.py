"""`facefix restore --backend interlcm` and `facefix models list` as a user runs them (tiny weights)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from interlcm_parts import one_thread  # noqa: F401 - autouse fixture
from typer.testing import CliRunner

from facefix import hub
from facefix.backends.base import RestoreOptions
from facefix.backends.interlcm import InterLCMInpainter, InterLCMRestorer
from facefix.backends.interlcm.checkpoint import METADATA_KEY
from facefix.backends.interlcm.components import TINY_CONFIGS, InterLCMModels
from facefix.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """All five tiny parts in one safetensors file, their configs in its metadata."""
    torch.manual_seed(0)
    models = InterLCMModels.from_configs(TINY_CONFIGS["configs"])
    tensors = {f"{role}.{key}": value for role, module in models.modules().items()
               for key, value in module.state_dict().items()}
    path = tmp_path_factory.mktemp("weights") / "tiny-interlcm.safetensors"
    return hub.save_state_dict(tensors, path, {METADATA_KEY: json.dumps({**TINY_CONFIGS, "variant": "1step"})})


def test_models_list_shows_every_variant_and_the_non_commercial_licence():
    result = runner.invoke(app, ["models", "list", "--backend", "interlcm"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for tag in ("3step", "1step", "colorization-1step", "inpainting-1step"):
        assert f"interlcm.visual-encoder-{tag}" in result.output
        assert f"interlcm.spatial-encoder-{tag}" in result.output
    assert result.output.count("CC-BY-NC-4.0") == 8


def test_aligned_restore_end_to_end_with_a_bundle_is_repeatable(tmp_path, bundle):
    face = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 255, (80, 80, 3), dtype=np.uint8), (9, 9), 3)
    cv2.imwrite(str(tmp_path / "face.png"), face)

    def restore(out: str, seed: str):
        result = runner.invoke(app, ["restore", "--aligned", "--backend", "interlcm", "--weights", str(bundle),
                                     str(tmp_path / "face.png"), "-o", str(tmp_path / out), "--device", "cpu",
                                     "--seed", seed])
        assert result.exit_code == 0, result.output
        return cv2.imread(str(tmp_path / out / "face.png"))

    first = restore("a", "1")
    assert first.shape == (64, 64, 3)  # aligned faces come out at the backend's face size
    assert np.array_equal(restore("b", "1"), first)
    assert not np.array_equal(restore("c", "2"), first)



def test_variant_and_steps_reach_the_backend_from_the_command_line(tmp_path, bundle):
    face = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8), (9, 9), 3)
    cv2.imwrite(str(tmp_path / "face.png"), face)

    def restore(out: str, *extra: str):
        result = runner.invoke(app, ["restore", "--aligned", "--backend", "interlcm", "--weights", str(bundle),
                                     str(tmp_path / "face.png"), "-o", str(tmp_path / out), "--device", "cpu",
                                     "--seed", "1", *extra])
        assert result.exit_code == 0, result.output
        return cv2.imread(str(tmp_path / out / "face.png"))

    one_step = restore("default")  # the bundle says 1step
    assert not np.array_equal(restore("three", "--variant", "3step"), one_step)
    assert not np.array_equal(restore("two", "--steps", "2"), one_step)
    assert np.array_equal(restore("again", "--variant", "1step"), one_step)

def test_inpainting_changes_only_the_holes_and_paints_them_white(bundle):
    inpainter = InterLCMInpainter.load(str(bundle), options=RestoreOptions(seed=0))
    assert inpainter.restorer.variant.name == "1step"  # the bundle says which model it is
    seen = []
    restore = inpainter.restorer.restore
    inpainter.restorer.restore = lambda faces: (seen.append(faces.clone()), restore(faces))[1]
    faces = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.5
    masks = torch.zeros(1, 1, 64, 64)
    masks[..., 16:40, 20:44] = 1
    out = inpainter.inpaint(faces, masks)
    keep = masks.expand_as(faces) == 0
    assert torch.equal(out[keep], faces[keep])
    assert not torch.equal(out[~keep], faces[~keep])
    assert torch.equal(seen[0][~keep], torch.ones_like(seen[0][~keep]))


def test_wrong_weights_are_a_one_line_error(tmp_path):
    bad = hub.save_state_dict({"decoder.weight": torch.zeros(2)}, tmp_path / "bad.safetensors")
    cv2.imwrite(str(tmp_path / "face.png"), np.zeros((64, 64, 3), np.uint8))
    result = runner.invoke(app, ["restore", "--aligned", "--backend", "interlcm", "--weights", str(bad),
                                 str(tmp_path / "face.png"), "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 1
    assert "names no InterLCM part" in result.output and "Traceback" not in result.output


def test_from_config_builds_the_official_architecture_on_the_meta_device():
    with torch.device("meta"):
        restorer = InterLCMRestorer.from_config(device="meta")
    counts = {role: sum(p.numel() for p in module.parameters())
              for role, module in restorer.pipeline.models.modules().items()}
    assert counts["visual_encoder"] == 12_960_845 and counts["spatial_encoder"] == 361_279_120
    assert counts["unet"] == 859_602_884 and counts["vae"] == 83_653_863
    assert restorer.face_size == 512 and restorer.pipeline.schedule.timesteps == (999, 759, 499, 259)
    models = restorer.pipeline.models
    # PyTorch's fused attention everywhere, and no VAE tiling (faces are 512 px)
    for network in (models.unet, models.spatial_encoder, models.vae):
        assert {type(p).__name__ for p in network.attn_processors.values()} == {"AttnProcessor2_0"}
    assert not models.vae.use_tiling
