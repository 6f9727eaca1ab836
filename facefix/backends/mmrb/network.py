"""The mmrb network: GPEN's encoder and StyleGAN2 prior, plus MMRB blocks and a feature decoder.

Parameter names of the GPEN part are those of GPEN's ``FullGenerator`` (``ecdN``, ``final_linear``,
``generator.*``), so a released GPEN file loads into it strictly. The paper's additions live under
their own names:

* ``mmrbs.N``: one :class:`~facefix.backends.mmrb.block.MMRB` after every encoder scale but the first and the last
  (6 for 512 px);
* ``decoder.N``: the asymmetric codec's decoder; from the 4x4 encoder output it rebuilds one feature map
  per scale (8 px up to full size), each the encoder feature of that scale plus a learned residual.
  These maps, not the raw encoder features, enter the prior's noise branches by concatenation;
* ``decoder_rgb.N``: 1x1 heads that turn each decoded map into RGB, used only by the training loss
  (the paper's per-scale L1 restoration loss).

The MMRB fusing convs and the decoder's last convs start at zero, so a network loaded from GPEN is
exactly GPEN until it is trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from facefix.backends.mmrb.block import MMRB
from facefix.backends.mmrb.stylegan2 import (ConstantInput, ConvLayer, EqualLinear, FusedLeakyReLU, ModulatedConv2d,
                                  PixelNorm, ToRGB)

#: key prefixes of the parameters that GPEN's releases do not have
EXTRA_PREFIXES = ("mmrbs.", "decoder.", "decoder_rgb.")


def gpen_channels(size: int, channel_multiplier: int = 2, narrow: float = 1.0) -> dict[int, int]:
    """GPEN's channel table: resolution -> channels, for 4 px up to ``size``."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
             256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier,
             2048: 8 * channel_multiplier}
    return {r: int(c * narrow) for r, c in table.items() if r <= size}


@dataclass
class MMRBConfig:
    size: int = 512
    style_dim: int = 512
    n_mlp: int = 8
    channels: dict[int, int] = field(default_factory=lambda: gpen_channels(512))
    lr_mlp: float = 0.01

    @classmethod
    def from_gpen(cls, size: int = 512, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: int = 2,
                  narrow: float = 1.0, **_: object) -> MMRBConfig:
        """The config of a GPEN ``FullGenerator(size, style_dim, n_mlp, channel_multiplier, narrow)``."""
        return cls(size=size, style_dim=style_dim, n_mlp=n_mlp,
                   channels=gpen_channels(size, channel_multiplier, narrow))

    @property
    def face_size(self) -> int:
        return self.size

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    @property
    def resolutions(self) -> list[int]:
        """4, 8, ..., size."""
        return [2**i for i in range(2, self.log_size + 1)]


class NoiseInjection(nn.Module):
    """GPEN's ``isconcat`` noise branch: concatenates ``weight * feature`` to the conv output."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.weight.to(x.dtype) * feature], dim=1)


class StyledConv(nn.Module):
    """Modulated 3x3 conv, concatenated noise branch, then a leaky ReLU over both halves."""

    def __init__(self, in_channels: int, out_channels: int, *, style_dim: int, upsample: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim=style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(2 * out_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), feature))


class StyleGAN2Prior(nn.Module):
    """GPEN's ``Generator`` with concatenated noise: mapping MLP and synthesis network.

    GPEN gives every layer the same style, so the synthesis takes one ``w`` per sample. ``features``
    holds one map per resolution (4 px first); both convs of a resolution receive the same map.
    """

    def __init__(self, config: MMRBConfig):
        super().__init__()
        c, sd = config.channels, config.style_dim
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(sd, sd, lr_mul=config.lr_mlp, activate=True)
                                                  for _ in range(config.n_mlp)])
        self.input = ConstantInput(c[4])
        self.conv1 = StyledConv(c[4], c[4], style_dim=sd)
        self.to_rgb1 = ToRGB(2 * c[4], style_dim=sd, upsample=False)
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        previous = c[4]
        for resolution in config.resolutions[1:]:
            out = c[resolution]
            self.convs.append(StyledConv(2 * previous, out, style_dim=sd, upsample=True))
            self.convs.append(StyledConv(2 * out, out, style_dim=sd))
            self.to_rgbs.append(ToRGB(2 * out, style_dim=sd))
            previous = out
        self.num_latent = 2 * config.log_size - 2

    def synthesize(self, w: torch.Tensor, features: list[torch.Tensor]) -> torch.Tensor:
        x = self.conv1(self.input(w.shape[0]).to(features[0].dtype), w, features[0])
        skip = self.to_rgb1(x, w)
        for level, to_rgb in enumerate(self.to_rgbs):
            feature = features[level + 1]
            x = self.convs[2 * level](x, w, feature)
            x = self.convs[2 * level + 1](x, w, feature)
            skip = to_rgb(x, w, skip)
        return skip


class DecoderBlock(nn.Module):
    """Upsamples the previous decoded map and adds a learned residual to the encoder map of this scale."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels + out_channels, out_channels, 3, padding=1)
        self.out = nn.Conv2d(out_channels, out_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, previous: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(previous, scale_factor=2, mode="bilinear", align_corners=False)
        return skip + self.out(F.leaky_relu(self.conv(torch.cat([up, skip], dim=1)), 0.2))


class MMRBOutput(NamedTuple):
    image: torch.Tensor                         # RGB, nominally [-1, 1], not clamped
    latent: torch.Tensor                        # W+ (B, num_latent, style_dim), all rows equal
    pyramid: list[torch.Tensor] | None = None   # decoder RGB per scale 8..size, when asked for


class MMRBNet(nn.Module):
    """The full restoration network; input RGB in [-1, 1] of exactly ``size`` x ``size``."""

    def __init__(self, config: MMRBConfig):
        super().__init__()
        self.config = config
        c, size = config.channels, config.size
        self.generator = StyleGAN2Prior(config)
        self.num_encoder_stages = config.log_size - 1
        self.ecd0 = nn.Sequential(ConvLayer(3, c[size], 1))
        for stage in range(1, self.num_encoder_stages):
            layer = ConvLayer(c[size >> (stage - 1)], c[size >> stage], 3, downsample=True)
            self.add_module(f"ecd{stage}", nn.Sequential(layer))
        self.final_linear = nn.Sequential(EqualLinear(c[4] * 16, config.style_dim, activate=True))
        # one MMRB per encoder scale except the first (full size) and the last (4 px)
        self.mmrbs = nn.ModuleList(MMRB(c[size >> stage]) for stage in range(1, self.num_encoder_stages - 1))
        self.decoder = nn.ModuleList(DecoderBlock(c[r // 2], c[r]) for r in config.resolutions[1:])
        self.decoder_rgb = nn.ModuleList(nn.Conv2d(c[r], 3, 1) for r in config.resolutions[1:])

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features from full size down to 4 px."""
        features = [self.ecd0(x)]
        for stage in range(1, self.num_encoder_stages):
            h = getattr(self, f"ecd{stage}")(features[-1])
            if stage <= len(self.mmrbs):
                h = self.mmrbs[stage - 1](h)
            features.append(h)
        return features

    def decode(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """Decoded maps from 4 px up to full size (the 4 px map is the encoder's)."""
        decoded = [features[-1]]
        for block, skip in zip(self.decoder, reversed(features[:-1])):
            decoded.append(block(decoded[-1], skip))
        return decoded

    def forward(self, x: torch.Tensor, *, return_pyramid: bool = False) -> MMRBOutput:
        features = self.encode(x)
        z = self.final_linear(features[-1].flatten(1))
        w = self.generator.style(z)
        decoded = self.decode(features)
        image = self.generator.synthesize(w, decoded)
        latent = w.unsqueeze(1).expand(-1, self.generator.num_latent, -1)
        pyramid = [head(d) for head, d in zip(self.decoder_rgb, decoded[1:])] if return_pyramid else None
        return MMRBOutput(image, latent, pyramid)
