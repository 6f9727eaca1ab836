"""GPEN-format loading: golden outputs, full key specs, config from shapes, wrappers, bad files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_path
from typer.testing import CliRunner

from facefix import hub
from facefix.backends.mmrb import MMRBConfig, MMRBNet, MMRBRestorer, infer_config, load_mmrb_network
from facefix.cli import app
from facefix.errors import CheckpointError


@pytest.fixture(scope="module")
def golden():
    return torch.load(shared_path("reference", "gpen_small.golden.pt"), weights_only=True)


def _upstream_config(golden) -> MMRBConfig:
    c = golden["config"]
    return MMRBConfig.from_gpen(size=c["size"], style_dim=c["style_dim"], n_mlp=c["n_mlp"],
                                channel_multiplier=c["channel_multiplier"], narrow=c["narrow"])


def test_golden_outputs_reproduced_with_mmrb_and_decoder_at_identity(golden):
    network = load_mmrb_network(golden["state_dict"])
    with torch.no_grad():
        out = network(golden["input"])
        features = network.encode(golden["input"])
        decoded = network.decode(features)
    expected = golden["outputs"]
    assert (out.image - expected["image"]).abs().max() < 1e-4
    assert (out.latent - expected["latent"]).abs().max() < 1e-4
    for ours, theirs in zip(features, expected["encoder_feats"], strict=True):
        assert (ours - theirs).abs().max() < 1e-4
    # the decoder hands the prior exactly the encoder features until it is trained
    for ours, theirs in zip(decoded, reversed(features), strict=True):
        assert torch.equal(ours, theirs)


def test_float64_matches_the_upstream_float64_run(golden):
    network = load_mmrb_network(golden["state_dict"]).double()
    with torch.no_grad():
        image = network(golden["input"].double()).image
    assert (image - golden["outputs"]["image_f64"]).abs().max() < 1e-5


def test_config_inferred_from_shapes_matches_the_upstream_config(golden):
    assert infer_config(golden["state_dict"]) == _upstream_config(golden)


@pytest.mark.parametrize("name", ["gpen_bfr_512", "gpen_bfr_256", "gpen_bfr_1024"])
def test_full_key_specs_load_strictly(name):
    spec = json.loads(shared_path("reference", f"{name}.keys.json").read_text())
    state = {key: torch.zeros(shape) for key, shape in spec["tensors"].items()}
    network = load_mmrb_network(state)
    keys = ("size", "style_dim", "n_mlp", "channel_multiplier", "narrow")
    assert network.config == MMRBConfig.from_gpen(**{k: spec["config"][k] for k in keys})
    gpen_part = sum(v.numel() for k, v in network.state_dict().items() if k in state and not k.endswith("kernel"))
    assert gpen_part == spec["num_parameter_elements"]


def test_full_512_spec_as_bare_file_restores_through_the_cli(tmp_path):
    spec = json.loads(shared_path("reference", "gpen_bfr_512.keys.json").read_text())["tensors"]
    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=generator) * 0.05 for key, shape in spec.items()}
    torch.save(state, tmp_path / "GPEN-BFR-512.pth")
    del state
    face = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "face.png"), face)
    result = CliRunner().invoke(app, ["restore", "--aligned", "--backend", "mmrb", "--weights",
                                      str(tmp_path / "GPEN-BFR-512.pth"), str(tmp_path / "face.png"),
                                      "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(tmp_path / "out" / "face.png")).shape == (512, 512, 3)


def _gpen_reference(network: MMRBNet, face_bgr: np.ndarray) -> np.ndarray:
    """GPEN's FaceGAN pre/post-processing around the network (truncation to uint8, as upstream)."""
    x = torch.from_numpy(face_bgr.astype(np.float32) / 255.0)
    x = ((x - 0.5) / 0.5).permute(2, 0, 1)[None].flip(1)
    with torch.no_grad():
        y = network(x).image
    y = (y * 0.5 + 0.5)[0].permute(1, 2, 0).flip(2).numpy()
    return (np.clip(y, 0, 1) * 255).astype(np.uint8)


def test_user_level_aligned_restore_matches_gpen_processing(golden, tmp_path):
    torch.save(golden["state_dict"], tmp_path / "small_gpen.pth")
    face = ((golden["input"][0].flip(0).permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
    cv2.imwrite(str(tmp_path / "face.png"), face)
    result = CliRunner().invoke(app, ["restore", "--aligned", "--backend", "mmrb", "--weights",
                                      str(tmp_path / "small_gpen.pth"), str(tmp_path / "face.png"),
                                      "-o", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    restored = cv2.imread(str(tmp_path / "out" / "face.png")).astype(int)
    expected = _gpen_reference(load_mmrb_network(golden["state_dict"]), face).astype(int)
    assert np.abs(restored - expected).max() <= 1


def test_training_wrapper_and_our_checkpoints_round_trip(golden, tmp_path):
    torch.save({"g": golden["state_dict"], "g_ema": golden["state_dict"], "d": {}}, tmp_path / "train.pth")
    size = golden["config"]["size"]
    assert MMRBRestorer.load(str(tmp_path / "train.pth")).face_size == size

    network = load_mmrb_network(golden["state_dict"])
    for block in network.mmrbs:
        torch.nn.init.normal_(block.fuse.weight, std=0.01)
    path = hub.save_state_dict(network.state_dict(), tmp_path / "trained.safetensors")
    reloaded = MMRBRestorer.load(str(path))
    for key, value in network.state_dict().items():
        assert torch.equal(reloaded.network.state_dict()[key], value), key
    faces = torch.rand(1, 3, size, size)
    assert not torch.equal(reloaded.restore(faces), MMRBRestorer.load(str(tmp_path / "train.pth")).restore(faces))


def test_wrong_or_partial_checkpoints_are_clear_errors(golden):
    with pytest.raises(CheckpointError, match="not a GPEN FullGenerator-format checkpoint"):
        load_mmrb_network({"conv.weight": torch.zeros(1)})
    partial = dict(golden["state_dict"])
    partial.pop("generator.convs.3.noise.weight")
    with pytest.raises(CheckpointError, match="generator.convs.3.noise.weight"):
        load_mmrb_network(partial)
    extras = {k: v for k, v in MMRBNet(infer_config(golden["state_dict"])).state_dict().items()
              if k.startswith("mmrbs.")}
    with pytest.raises(CheckpointError, match="decoder"):
        load_mmrb_network({**golden["state_dict"], **extras})


def test_restore_contract_range_and_determinism(golden):
    keys = ("size", "style_dim", "n_mlp", "channel_multiplier", "narrow")
    restorer = MMRBRestorer.from_config({key: golden["config"][key] for key in keys})
    restorer.network.load_state_dict(load_mmrb_network(golden["state_dict"]).state_dict())
    size = golden["config"]["size"]
    faces = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(2))
    out = restorer.restore(faces)
    assert out.shape == faces.shape and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1
    assert torch.equal(out, restorer.restore(faces))
    # a batch gives the same faces as one at a time (no batch-wide statistics in the generator)
    assert (restorer.restore(faces[1:2]) - out[1:2]).abs().max() < 1e-5
