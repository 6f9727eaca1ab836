"""The diffusion U-Net: Palette's golden output, the CelebA-HQ key spec, config from shapes, FFC variant."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import shared_path

from facefix.backends.ddpm.checkpoint import infer_unet_config, is_palette, load_unet
from facefix.backends.ddpm.unet import DiffusionUNet, UNetConfig, gamma_embedding
from facefix.errors import CheckpointError

SMALL = UNetConfig(inner_channel=32, channel_mults=(1, 2), res_blocks=1, attn_res=(2,), num_head_channels=16,
                   dropout=0.0)


@pytest.fixture(scope="module")
def golden():
    return torch.load(shared_path("reference", "palette_unet_small.golden.pt"), weights_only=True)


def test_palette_golden_output_and_intermediates(golden):
    network = load_unet(golden["state_dict"], num_head_channels=golden["config"]["num_head_channels"])
    inputs = golden["inputs"]
    with torch.no_grad():
        out = network(inputs["x"], inputs["gammas"])
        embedding = gamma_embedding(inputs["gammas"].view(-1), golden["config"]["inner_channel"])
    assert (out - golden["output"]).abs().max() < 1e-4
    assert (embedding - golden["intermediates"]["gamma_embedding"]).abs().max() < 1e-5
    loss = torch.nn.functional.mse_loss(inputs["mask"] * inputs["noise"], inputs["mask"] * out)
    assert abs(loss.item() - golden["intermediates"]["train_loss_masked_mse"]) < 1e-4


def test_config_read_from_shapes(golden):
    made = golden["config"]
    config = infer_unet_config(golden["state_dict"], num_head_channels=made["num_head_channels"])
    assert (config.inner_channel, config.channel_mults, config.res_blocks, config.attn_res, config.ffc) == \
        (made["inner_channel"], tuple(made["channel_mults"]), made["res_blocks"], tuple(made["attn_res"]), False)


def test_full_palette_celebahq_spec_loads_strictly_without_schedule_buffers():
    spec = json.loads(shared_path("reference", "palette_celebahq.keys.json").read_text())
    state = {key: torch.zeros(shape) for key, shape in spec.items()}
    assert is_palette(state)
    network = load_unet(state)
    assert network.config.channel_mults == (1, 2, 4, 8) and network.config.res_blocks == 2
    assert sum(p.numel() for p in network.parameters()) == 62_641_347
    # attention only in the middle (Palette's attn_res [16] is never reached by the down-sampling factor)
    assert [name for name, _ in network.named_modules() if name.endswith(".qkv")] == ["middle_block.1.qkv"]


def test_ffc_unet_replaces_the_full_resolution_blocks_and_round_trips():
    config = UNetConfig(**{**SMALL.__dict__, "ffc": True})
    network = DiffusionUNet(config)
    ffc_blocks = [name for name, module in network.named_modules() if type(module).__name__ == "FFCBlock"]
    assert ffc_blocks == ["input_blocks.1.0", "output_blocks.2.0", "output_blocks.3.0"]
    assert infer_unet_config(network.state_dict(), num_head_channels=16) == config
    x = torch.randn(2, 6, 32, 40)  # any size divisible by 2 ** (levels - 1), not only square
    assert network(x, torch.tensor([0.3, 0.9])).shape == (2, 3, 32, 40)
    reloaded = load_unet(network.state_dict(), num_head_channels=16)
    with torch.no_grad():
        assert torch.equal(reloaded(x, torch.tensor([0.3, 0.9])), network.eval()(x, torch.tensor([0.3, 0.9])))


def test_bad_checkpoints_are_clear_errors(golden):
    with pytest.raises(CheckpointError, match="not a Palette"):
        load_unet({"weight": torch.zeros(1)})
    broken = dict(golden["state_dict"])
    broken.pop("middle_block.1.qkv.bias")
    with pytest.raises(CheckpointError, match="middle_block.1.qkv.bias"):
        load_unet(broken, num_head_channels=16)
