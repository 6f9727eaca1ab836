"""A tiny random conditional DDPM checkpoint (FFC U-Net, 64 px) for inpainting tests."""

from __future__ import annotations

from pathlib import Path

import torch

from facefix import hub
from facefix.backends.ddpm import DiffusionUNet, UNetConfig


def write_tiny_ddpm(path: Path) -> Path:
    """Save a seeded random FFC U-Net with the metadata our trained files carry; returns ``path``."""
    torch.manual_seed(0)
    network = DiffusionUNet(UNetConfig(inner_channel=32, channel_mults=(1, 2), res_blocks=1, num_head_channels=16,
                                       attn_res=(), ffc=True))
    # small random weights everywhere (the zero-initialised output layers would make the model predict nothing)
    for parameter in network.parameters():
        torch.nn.init.normal_(parameter, std=0.02)
    return hub.save_state_dict(network.state_dict(), path, {"config": '{"num_head_channels": 16, "size": 64}'})
