"""Discriminators for mmrb training: GPEN's global discriminator (with FreezeD) and local ones.

:class:`GPENDiscriminator` has the parameter names of GPEN's released ``GPEN-BFR-512-D.pth``, so the
pretrained discriminator loads strictly. FreezeD (the paper's Sec. 4.2: "freeze the parameters of the
first five convolution layers") is read literally: the first five convolutions on the input side's main
path, ``convs.0`` (the 1x1 stem) and the two 3x3 convolutions of each of ``convs.1`` and ``convs.2``
(512 px down to 128 px); a residual block's 1x1 skip is frozen with the block's last convolution, so five
convolutions end on a block boundary. (Counting GPEN's blocks instead, five blocks are nine convolutions:
``freeze_convs(d, 9)``.)

:class:`LocalDiscriminator` judges one facial component (left eye, right eye, mouth) cropped from the
face by :func:`facefix.face.components.crop_components`: like the global one, but with only two down-samplings and a
one-channel map of logits as output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from facefix.backends.mmrb.network import gpen_channels
from facefix.errors import CheckpointError
from facefix.backends.mmrb.stylegan2 import ConvLayer, EqualConv2d, EqualLinear, ResBlock, minibatch_stddev

#: how many input-side convolutions FreezeD freezes (the paper's "first five convolution layers")
FREEZE_D_CONVS = 5

class GPENDiscriminator(nn.Module):
    """StyleGAN2 residual discriminator with a whole-batch minibatch-stddev channel; returns logits (B, 1)."""

    def __init__(self, size: int = 512, channel_multiplier: int = 2, narrow: float = 1.0,
                 channels: Mapping[int, int] | None = None):
        super().__init__()
        c = dict(channels) if channels else gpen_channels(size, channel_multiplier, narrow)
        self.size = size
        blocks: list[nn.Module] = [ConvLayer(3, c[size], 1)]
        resolution = size
        while resolution > 4:
            blocks.append(ResBlock(c[resolution], c[resolution // 2]))
            resolution //= 2
        self.convs = nn.Sequential(*blocks)
        self.final_conv = ConvLayer(c[4] + 1, c[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(c[4] * 16, c[4], activate=True), EqualLinear(c[4], 1))

    def forward(self, x: torch.Tensor, *, return_features: bool = False):
        features = []
        for block in self.convs:
            x = block(x)
            features.append(x)
        x = self.final_conv(torch.cat([x, minibatch_stddev(x)], dim=1))
        features.append(x)
        logit = self.final_linear(x.flatten(1))
        return (logit, features) if return_features else logit


def freeze_convs(discriminator: GPENDiscriminator, count: int = FREEZE_D_CONVS) -> list[str]:
    """FreezeD: stop training the first ``count`` main-path convolutions (see the module docstring);
    returns the names of the frozen parameters."""
    # each main-path convolution with what is frozen with it (a block's skip goes with its last convolution)
    units: list[list[tuple[str, nn.Module]]] = []
    for index, block in enumerate(discriminator.convs):
        if isinstance(block, ResBlock):
            units.append([(f"convs.{index}.conv1", block.conv1)])
            units.append([(f"convs.{index}.conv2", block.conv2), (f"convs.{index}.skip", block.skip)])
        else:
            units.append([(f"convs.{index}", block)])
    frozen = []
    for prefix, module in (part for unit in units[:count] for part in unit):
        for name, parameter in module.named_parameters():
            parameter.requires_grad_(False)
            frozen.append(f"{prefix}.{name}")
    return frozen


def load_discriminator(state_dict: Mapping[str, torch.Tensor]) -> GPENDiscriminator:
    """A GPEN discriminator with the architecture read from ``state_dict``, loaded strictly."""
    if "convs.0.0.weight" not in state_dict or "final_linear.1.weight" not in state_dict:
        raise CheckpointError("not a GPEN discriminator checkpoint (no convs.0.0.weight / final_linear.1.weight)")
    blocks = sum(1 for key in state_dict if key.endswith(".conv1.0.weight"))
    size = 4 * 2**blocks
    channels = {size: state_dict["convs.0.0.weight"].shape[0]}
    for index in range(1, blocks + 1):
        channels[size >> index] = state_dict[f"convs.{index}.conv2.1.weight"].shape[0]
    network = GPENDiscriminator(size, channels=channels)
    try:
        network.load_state_dict(dict(state_dict), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"discriminator weights do not fit: {str(exc).splitlines()[1].strip()}") from None
    return network


class LocalDiscriminator(nn.Module):
    """Patch discriminator for one facial component: stem, two down-sampling residual blocks, 1-channel map."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(3, channels, 1),
            ResBlock(channels, 2 * channels),
            ResBlock(2 * channels, 4 * channels),
            ConvLayer(4 * channels, 4 * channels, 3),
        )
        self.head = EqualConv2d(4 * channels, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def local_crop_size(face_size: int) -> int:
    """Side of the component crops: an eighth of the face, at least 16 px, a multiple of 4."""
    return max(16, 4 * math.ceil(face_size / 32))
