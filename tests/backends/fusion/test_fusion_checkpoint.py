"""GFPGAN-format loading: golden outputs, the full v1.4 key spec, config from shapes, bad files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_path
from typer.testing import CliRunner

from facefix.backends.fusion import FusionConfig, FusionGFPGAN, FusionRestorer, infer_config, load_fusion_network
from facefix.backends.base import RestoreOptions
from facefix.cli import app
from facefix.errors import CheckpointError


@pytest.fixture(scope="module")
def golden():
    return torch.load(shared_path("reference", "gfpgan_clean_small.golden.pt"), weights_only=True)


def test_golden_outputs_reproduced_with_fusion_at_identity(golden):
    network = load_fusion_network(golden["state_dict"])
    with torch.no_grad():
        out = network(golden["input"], return_rgb=True)
    expected = golden["outputs"]
    assert (out.image - expected["image"]).abs().max() < 1e-4
    assert (out.style_code - expected["style_code"]).abs().max() < 1e-4
    assert torch.equal(out.latent, out.style_code)  # fusion blocks are an exact identity
    for i, rgb in enumerate(out.unet_rgbs[:4]):
        assert (rgb - expected[f"out_rgbs.{i}"]).abs().max() < 1e-4


def test_config_inferred_from_shapes_matches_the_upstream_config(golden):
    upstream = golden["config"]
    expected = FusionConfig.from_gfpgan(out_size=upstream["out_size"], num_style_feat=upstream["num_style_feat"],
                                        channel_multiplier=upstream["channel_multiplier"],
                                        narrow=upstream["narrow"], num_mlp=upstream["num_mlp"])
    assert infer_config(golden["state_dict"]) == expected


def test_full_v14_key_spec_loads_strictly_and_restores_a_512_face(tmp_path):
    spec = json.loads(shared_path("reference", "gfpgan_v1.4.keys.json").read_text())["tensors"]
    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=generator) * 0.02 for key, shape in spec.items()}
    path = tmp_path / "GFPGANv1.4-random.pth"
    torch.save({"params_ema": state}, path)
    del state
    restorer = FusionRestorer.load(str(path))
    assert restorer.face_size == 512
    assert restorer.network.config == FusionConfig()  # the release config, read from the shapes
    faces = torch.rand(1, 3, 512, 512)
    out = restorer.restore(faces)
    assert out.shape == faces.shape and 0 <= out.min() and out.max() <= 1


def test_user_level_aligned_restore_matches_upstream_postprocessing(golden, tmp_path):
    example = golden["pre_post_example"]
    torch.save({"params_ema": golden["state_dict"]}, tmp_path / "small_gfpgan.pth")
    cv2.imwrite(str(tmp_path / "face.png"), example["face_bgr_uint8"].numpy())
    result = CliRunner().invoke(app, ["restore", "--aligned", "--backend", "fusion", "--weights",
                                      str(tmp_path / "small_gfpgan.pth"), str(tmp_path / "face.png"),
                                      "-o", str(tmp_path / "out"), "--device", "cpu", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    restored = cv2.imread(str(tmp_path / "out" / "face.png")).astype(int)
    assert np.abs(restored - example["restored_bgr_uint8"].numpy().astype(int)).max() <= 1


def test_trained_checkpoint_with_fusion_blocks_round_trips(tmp_path, golden):
    from facefix import hub

    network = load_fusion_network(golden["state_dict"])
    for block in network.fusion_blocks:
        torch.nn.init.normal_(block.output.weight, std=0.01)
    path = hub.save_state_dict(network.state_dict(), tmp_path / "trained.safetensors")
    reloaded = FusionRestorer.load(str(path))
    for key, value in network.state_dict().items():
        assert torch.equal(reloaded.network.state_dict()[key], value), key


def test_wrong_or_partial_checkpoints_are_clear_errors(golden, tmp_path):
    with pytest.raises(CheckpointError, match="not a GFPGANv1Clean-format checkpoint"):
        load_fusion_network({"conv.weight": torch.zeros(1)})
    partial = dict(golden["state_dict"])
    partial.pop("final_conv.bias")
    with pytest.raises(CheckpointError, match="final_conv.bias"):
        load_fusion_network(partial)
    network_keys = FusionGFPGAN(infer_config(golden["state_dict"])).state_dict()
    fusion_keys = {k: v for k, v in network_keys.items() if k.startswith("fusion_blocks.")}
    broken_fusion = {**golden["state_dict"], **fusion_keys}
    broken_fusion.pop("fusion_blocks.1.output.weight")
    with pytest.raises(CheckpointError, match="fusion_blocks.1.output.weight"):
        load_fusion_network(broken_fusion)


def test_deterministic_by_default_and_seeded_random_noise(golden):
    faces = torch.rand(golden["input"].shape, generator=torch.Generator().manual_seed(1))  # the golden's size
    plain = FusionRestorer.from_state_dict(golden["state_dict"], config=None, device=torch.device("cpu"),
                                           dtype=torch.float32, options=RestoreOptions())
    assert torch.equal(plain.restore(faces), plain.restore(faces))

    def seeded(seed):
        return FusionRestorer.from_state_dict(golden["state_dict"], config=None, device=torch.device("cpu"),
                                              dtype=torch.float32,
                                              options=RestoreOptions(random_noise=True, seed=seed)).restore(faces)

    assert torch.equal(seeded(3), seeded(3))
    assert not torch.equal(seeded(3), seeded(4))
    assert not torch.equal(seeded(3), plain.restore(faces))
