"""The denoising U-Net of the ddpm backend: Palette's guided-diffusion U-Net, optionally with FFC blocks.

With ``ffc=False`` the parameter names and shapes are those of Palette's released CelebA-HQ network
(``Network.denoise_fn``), so that file loads strictly. With ``ffc=True`` the residual blocks of the
full-resolution level (the first encoder blocks and the last decoder blocks) are fast-Fourier-convolution
blocks, as the seed paper does after LaMa. Design choices the paper leaves open, settled here:

* the FFC block works on one tensor whose last 75 % of channels are the global part (LaMa's ``inline``);
  decoder blocks first project the concatenated skip to the block width with a 1x1 conv;
* the noise-level embedding enters an FFC block the paper's way: a linear layer of the embedding, added
  to the block's output;
* normalisation is GroupNorm (``gcd(32, C)`` groups) instead of LaMa's BatchNorm, which is unreliable at
  diffusion batch sizes (3 per GPU in Palette) and at inference with few samples.

The network is conditioned on the noise level ``gamma = alpha_bar`` (not on the step index), embedded
with Palette's sinusoid (cos first) and a two-layer MLP, so the sampling schedule can differ from the
training one. Input: ``cat([condition, y_t])`` (6 channels); output: the predicted noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facefix.backends.ddpm.ffc import FFCResnetBlock


@dataclass
class UNetConfig:
    in_channel: int = 6
    out_channel: int = 3
    inner_channel: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    res_blocks: int = 2
    attn_res: tuple[int, ...] = (16,)   # Palette compares these with the down-sampling factor, not a size
    num_head_channels: int = 32
    dropout: float = 0.2
    ffc: bool = False
    ffc_ratio: float = 0.75


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 whatever the input and parameter dtype (fp16 variances overflow)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).to(x.dtype)


def group_norm(channels: int) -> nn.GroupNorm:
    return GroupNorm32(math.gcd(32, channels), channels)


def gamma_embedding(gammas: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Palette's sinusoid of the noise level itself: ``[cos(g f_i), sin(g f_i)]``, ``f_i = P^(-i/half)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=gammas.device) / half)
    args = gammas.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(embedding, (0, 1)) if dim % 2 else embedding


class ResBlock(nn.Module):
    """Guided-diffusion residual block with scale-shift conditioning, optionally resampling."""

    def __init__(self, channels: int, emb_dim: int, dropout: float, out_channels: int | None = None, *,
                 up: bool = False, down: bool = False):
        super().__init__()
        out_channels = out_channels or channels
        self.up, self.down = up, down
        self.in_layers = nn.Sequential(group_norm(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * out_channels))
        self.out_layers = nn.Sequential(group_norm(out_channels), nn.SiLU(), nn.Dropout(dropout),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        nn.init.zeros_(self.out_layers[3].weight)
        nn.init.zeros_(self.out_layers[3].bias)
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers[:-1](x)
        h, x = self._resample(h), self._resample(x)
        h = self.in_layers[-1](h)
        scale, shift = self.emb_layers(emb).to(h.dtype)[..., None, None].chunk(2, dim=1)
        h = self.out_layers[0](h) * (1 + scale) + shift
        return self.skip_connection(x) + self.out_layers[1:](h)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over pixels, with guided diffusion's legacy head split."""

    def __init__(self, channels: int, num_head_channels: int):
        super().__init__()
        self.heads = channels // num_head_channels
        self.norm = group_norm(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        batch, channels, *spatial = x.shape
        flat = x.reshape(batch, channels, -1)
        qkv = self.qkv(self.norm(flat))
        length, head_dim = qkv.shape[-1], channels // self.heads
        # legacy order: heads first, then q, k, v within each head
        q, k, v = qkv.reshape(batch * self.heads, 3 * head_dim, length).split(head_dim, dim=1)
        scale = head_dim ** -0.25
        weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
        weight = weight.float().softmax(dim=-1).to(weight.dtype)
        attended = torch.einsum("bts,bcs->bct", weight, v).reshape(batch, channels, length)
        return (flat + self.proj_out(attended)).reshape(batch, channels, *spatial)


class FFCBlock(nn.Module):
    """An FFC residual block standing in for a ResBlock: optional 1x1 input projection, the FFC block
    on (local, global) channel splits, and the noise embedding added to the output by a linear layer."""

    def __init__(self, channels: int, emb_dim: int, out_channels: int, ratio: float):
        super().__init__()
        self.project = nn.Conv2d(channels, out_channels, 1) if channels != out_channels else nn.Identity()
        self.ffc = FFCResnetBlock(out_channels, ratio=ratio, enable_lfu=False, norm_layer=group_norm)
        self.emb = nn.Linear(emb_dim, out_channels)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.ffc.forward_inline(self.project(x))
        return h + self.emb(emb).to(h.dtype)[..., None, None]


class EmbedSequential(nn.Sequential):
    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x, emb) if isinstance(layer, (ResBlock, AttentionBlock, FFCBlock)) else layer(x)
        return x


class DiffusionUNet(nn.Module):
    """``forward(x, gammas)``: x = cat([condition, y_t]) (B, 6, H, W), gammas (B,) or (B, 1) -> noise (B, 3, H, W).

    H and W must be multiples of ``2 ** (len(channel_mults) - 1)``.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = c = config
        emb_dim = 4 * c.inner_channel
        self.cond_embed = nn.Sequential(nn.Linear(c.inner_channel, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        def block(channels: int, out: int, ds: int) -> nn.Module:
            if c.ffc and ds == 1:
                return FFCBlock(channels, emb_dim, out, c.ffc_ratio)
            return ResBlock(channels, emb_dim, c.dropout, out)

        ch = c.inner_channel * c.channel_mults[0]
        self.input_blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(c.in_channel, ch, 3, padding=1))])
        skip_channels, ds = [ch], 1
        for level, mult in enumerate(c.channel_mults):
            for _ in range(c.res_blocks):
                layers = [block(ch, mult * c.inner_channel, ds)]
                ch = mult * c.inner_channel
                if ds in c.attn_res:
                    layers.append(AttentionBlock(ch, c.num_head_channels))
                self.input_blocks.append(EmbedSequential(*layers))
                skip_channels.append(ch)
            if level != len(c.channel_mults) - 1:
                self.input_blocks.append(EmbedSequential(ResBlock(ch, emb_dim, c.dropout, ch, down=True)))
                skip_channels.append(ch)
                ds *= 2
        self.middle_block = EmbedSequential(ResBlock(ch, emb_dim, c.dropout), AttentionBlock(ch, c.num_head_channels),
                                            ResBlock(ch, emb_dim, c.dropout))
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.channel_mults))):
            for i in range(c.res_blocks + 1):
                layers = [block(ch + skip_channels.pop(), mult * c.inner_channel, ds)]
                ch = mult * c.inner_channel
                if ds in c.attn_res:
                    layers.append(AttentionBlock(ch, c.num_head_channels))
                if level and i == c.res_blocks:
                    layers.append(ResBlock(ch, emb_dim, c.dropout, ch, up=True))
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))
        self.out = nn.Sequential(group_norm(ch), nn.SiLU(), nn.Conv2d(ch, c.out_channel, 3, padding=1))
        nn.init.zeros_(self.out[2].weight)
        nn.init.zeros_(self.out[2].bias)

    def forward(self, x: torch.Tensor, gammas: torch.Tensor) -> torch.Tensor:
        # the sinusoid in float32 (its arguments reach thousands of radians), the layers in the model's dtype
        emb = self.cond_embed(gamma_embedding(gammas.reshape(-1), self.config.inner_channel).to(x.dtype))
        skips = []
        h = x
        for module in self.input_blocks:
            h = module(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for module in self.output_blocks:
            h = module(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h)
