"""The fusion network: GFPGAN's U-Net + StyleGAN2 with channel-split SFT, plus feature-fusion blocks.

Parameter names and shapes of everything but ``fusion_blocks`` are exactly those of GFPGAN's
``GFPGANv1Clean`` release files (v1.2 to v1.4), so those files load strictly.

Data flow (B = batch, L = number of W+ rows):
1. U-Net encoder: 1x1 conv, then down-sampling residual blocks to 4x4; a linear layer turns the 4x4
   features into the W+ code (B, L, num_style_feat).
2. U-Net decoder: up-sampling residual blocks (each after adding the encoder skip of its input
   resolution) give features at 8, 16, ..., out_size; two small conv stacks turn each into an SFT
   scale and shift.
3. Fusion blocks refine W+ by attending to the decoder features at 8, 16, 32 px (coarse to fine).
4. StyleGAN2 decodes W+; after the first conv of each resolution the second half of the channels is
   modulated by the SFT pair, mixed with the unmodulated half by ``fidelity`` (1 = GFPGAN).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from facefix.backends.fusion.attention import FeatureFusionBlock
from facefix.backends.fusion.stylegan2_clean import StyleGAN2DecoderClean

_BASE_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
_MULTIPLIED_FROM = 64  # resolutions from here on scale with the channel multiplier


def gfpgan_channels(out_size: int, channel_multiplier: float, narrow: float) -> dict[int, int]:
    """GFPGAN's width per resolution (``int`` truncation, as upstream)."""
    return {res: int(base * (channel_multiplier if res >= _MULTIPLIED_FROM else 1) * narrow)
            for res, base in _BASE_CHANNELS.items() if res <= out_size}


@dataclass(frozen=True)
class FusionConfig:
    """Everything needed to build the network; :func:`infer_config` reads it from a state dict."""

    out_size: int = 512
    num_style_feat: int = 512
    num_mlp: int = 8
    decoder_channels: dict[int, int] = field(default_factory=lambda: gfpgan_channels(512, 2, 1))
    unet_channels: dict[int, int] = field(default_factory=lambda: gfpgan_channels(512, 2, 0.5))
    num_fusion_blocks: int = 3

    @classmethod
    def from_gfpgan(cls, *, out_size: int = 512, num_style_feat: int = 512, channel_multiplier: float = 2,
                    narrow: float = 1, num_mlp: int = 8, num_fusion_blocks: int = 3) -> FusionConfig:
        """The config of a ``GFPGANv1Clean(out_size, num_style_feat, channel_multiplier, narrow, ...)``."""
        return cls(out_size=out_size, num_style_feat=num_style_feat, num_mlp=num_mlp,
                   decoder_channels=gfpgan_channels(out_size, channel_multiplier, narrow),
                   unet_channels=gfpgan_channels(out_size, channel_multiplier, narrow * 0.5),
                   num_fusion_blocks=num_fusion_blocks)

    @property
    def face_size(self) -> int:
        return self.out_size

    @property
    def num_heads(self) -> int:
        # The paper keeps 64 channels per head (512 / 8).
        return max(1, self.num_style_feat // 64)

    def to_json(self) -> dict:
        data = asdict(self)
        data["decoder_channels"] = {str(k): v for k, v in self.decoder_channels.items()}
        data["unet_channels"] = {str(k): v for k, v in self.unet_channels.items()}
        return data

    @classmethod
    def from_json(cls, data: dict) -> FusionConfig:
        data = dict(data)
        for key in ("decoder_channels", "unet_channels"):
            data[key] = {int(k): int(v) for k, v in data[key].items()}
        return cls(**data)


class ResBlock(nn.Module):
    """GFPGAN's U-Net residual block; the resampling is bilinear, before the second conv."""

    def __init__(self, in_channels: int, out_channels: int, *, scale: float):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu_(self.conv1(x), 0.2)
        out = F.interpolate(out, scale_factor=self.scale, mode="bilinear", align_corners=False)
        out = F.leaky_relu_(self.conv2(out), 0.2)
        skip = self.skip(F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False))
        return out + skip


def _condition(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(channels, channels, 3, padding=1))


@dataclass
class FusionOutput:
    image: torch.Tensor
    style_code: torch.Tensor  # W+ before the fusion blocks
    latent: torch.Tensor  # W+ after them
    unet_rgbs: list[torch.Tensor]  # U-Net side outputs at 8..out_size px (for training losses)


class FusionGFPGAN(nn.Module):
    """GFPGAN v1 "clean" with feature-fusion blocks (see the module docstring)."""

    def __init__(self, config: FusionConfig):
        super().__init__()
        self.config = config
        unet = config.unet_channels
        log_size = int(math.log2(config.out_size))
        self.conv_body_first = nn.Conv2d(3, unet[config.out_size], 1)
        self.conv_body_down = nn.ModuleList(
            ResBlock(unet[2 ** (log_size - i)], unet[2 ** (log_size - i - 1)], scale=0.5) for i in range(log_size - 2)
        )
        self.final_conv = nn.Conv2d(unet[4], unet[4], 3, padding=1)
        self.conv_body_up = nn.ModuleList(
            ResBlock(unet[2 ** (i + 2)], unet[2 ** (i + 3)], scale=2) for i in range(log_size - 2)
        )
        self.toRGB = nn.ModuleList(nn.Conv2d(unet[2 ** (i + 3)], 3, 1) for i in range(log_size - 2))  # noqa: N815
        self.stylegan_decoder = StyleGAN2DecoderClean(out_size=config.out_size, num_style_feat=config.num_style_feat,
                                                      num_mlp=config.num_mlp, channels=config.decoder_channels)
        self.num_latent = self.stylegan_decoder.num_latent
        self.final_linear = nn.Linear(unet[4] * 16, self.num_latent * config.num_style_feat)
        self.condition_scale = nn.ModuleList(_condition(unet[2 ** (i + 3)]) for i in range(log_size - 2))
        self.condition_shift = nn.ModuleList(_condition(unet[2 ** (i + 3)]) for i in range(log_size - 2))
        self.fusion_blocks = nn.ModuleList(
            FeatureFusionBlock(dim=config.num_style_feat, feature_channels=unet[2 ** (i + 3)],
                               num_heads=config.num_heads)
            for i in range(min(config.num_fusion_blocks, log_size - 2))
        )

    def forward(self, x: torch.Tensor, *, fidelity: float = 1.0, noise: list[torch.Tensor] | None = None,
                return_rgb: bool = False) -> FusionOutput:
        """``x``: RGB in [-1, 1], (B, 3, out_size, out_size). ``fidelity`` in [0, 1] (1 = GFPGAN)."""
        # 1. Encoder down to 4x4, and the W+ code.
        feat = F.leaky_relu_(self.conv_body_first(x), 0.2)
        skips = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.insert(0, feat)
        feat = F.leaky_relu_(self.final_conv(feat), 0.2)
        style_code = self.final_linear(feat.flatten(1)).view(x.shape[0], self.num_latent, -1)

        # 2. Decoder features and the SFT conditions.
        features, conditions, unet_rgbs = [], [], []
        for i, block in enumerate(self.conv_body_up):
            feat = block(feat + skips[i])
            features.append(feat)
            conditions.append((self.condition_scale[i](feat), self.condition_shift[i](feat)))
            if return_rgb:
                unet_rgbs.append(self.toRGB[i](feat))

        # 3. Refine W+ coarse to fine.
        latent = style_code
        for block, spatial in zip(self.fusion_blocks, features):
            latent = block(latent, spatial)

        # 4. StyleGAN2 with channel-split SFT.
        def modulate(level: int, out: torch.Tensor) -> torch.Tensor:
            scale, shift = conditions[level]
            kept, modulated = torch.split(out, out.shape[1] // 2, dim=1)
            sft = modulated * scale + shift
            if fidelity != 1.0:
                sft = fidelity * sft + (1.0 - fidelity) * modulated
            return torch.cat([kept, sft], dim=1)

        image = self.stylegan_decoder(latent, modulate=modulate, noise=noise)
        return FusionOutput(image=image, style_code=style_code, latent=latent, unet_rgbs=unet_rgbs)
