"""InterLCM's visual encoder: CLIP image tokens -> a 77-token "prompt" for the LCM.

The layout is unusual: the CLIP *tokens* (197 for ViT-B/16) are the Conv1d **channels**, and the CLIP
*features* (768) are the 1-D **length**. Three nearest up-samplings walk the length L -> L/3 -> 2L/3 -> L,
and the last convolution maps the channels to 77, so the output (B, 77, L) has the shape of the SD-1.5
text embedding it replaces.

Parameter names (``blocks.<i>``) are those of the released ``visual_encoder_*.pth`` files, so they load
strictly. The architecture is read from the tensors (:func:`infer_config`); only the up-sampling
lengths are not in the weights, and they follow from the input length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facefix.errors import CheckpointError


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-6, affine=True)


def _swish(x: torch.Tensor) -> torch.Tensor:
    # written out rather than F.silu: this is bit-exact with the released code, F.silu is ~4e-6 off
    return x * torch.sigmoid(x)


class ResBlock1D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1 = _group_norm(in_channels)
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _group_norm(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1)
        self.conv_out = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_swish(self.norm1(x)))
        h = self.conv2(_swish(self.norm2(h)))
        return (x if self.conv_out is None else self.conv_out(x)) + h


class AttnBlock1D(nn.Module):
    """Single-head self-attention over the length axis (1x1 convolutions as projections)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _group_norm(channels)
        self.q, self.k, self.v, self.proj_out = (nn.Conv1d(channels, channels, 1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        weights = torch.softmax(torch.bmm(q.transpose(1, 2), k) * q.shape[1] ** -0.5, dim=2)
        return x + self.proj_out(torch.bmm(v, weights.transpose(1, 2)))


class Upsample1D(nn.Module):
    """Nearest re-sampling of the length to ``step/steps`` of the input length, then a 3-tap conv.

    ``mode="nearest"`` is PyTorch's legacy rule (not ``nearest-exact``), as in the released model:
    going 768 -> 256 keeps every third feature.
    """

    def __init__(self, channels: int, step: int, steps: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)
        self.step, self.steps = step, steps

    def forward(self, x: torch.Tensor, full_length: int) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=full_length * self.step // self.steps, mode="nearest"))


@dataclass(frozen=True)
class VisualEncoderConfig:
    """``level_channels`` are the widths from the output side up (official: 128, 256, 512 =
    ``nf * ch_mult``); ``attn_channels`` the level widths whose res blocks are followed by attention."""

    in_tokens: int = 197
    out_tokens: int = 77
    level_channels: tuple[int, ...] = (128, 256, 512)
    res_blocks: int = 2
    attn_channels: tuple[int, ...] = (512,)

    @classmethod
    def from_official(cls, *, nf: int, emb_dim: int, ch_mult, res_blocks: int, out_channels: int = 77,
                      attn_block_out_channels=None, **_unused) -> VisualEncoderConfig:
        """The constructor arguments of the released ``VisualEncoder`` (``img_size`` etc. are unused)."""
        levels = tuple(nf * m for m in ch_mult)
        attn = tuple(attn_block_out_channels) if attn_block_out_channels else (levels[-1],)
        return cls(in_tokens=emb_dim, out_tokens=out_channels, level_channels=levels, res_blocks=res_blocks,
                   attn_channels=attn)


class VisualEncoder(nn.Module):
    """(B, in_tokens, L) CLIP tokens -> (B, out_tokens, L) prompt embedding."""

    def __init__(self, config: VisualEncoderConfig = VisualEncoderConfig()):
        super().__init__()
        self.config = config
        levels = config.level_channels
        steps = len(levels)
        top = levels[-1]
        ups = iter(range(1, steps + 1))
        blocks: list[nn.Module] = [nn.Conv1d(config.in_tokens, top, 3, padding=1), Upsample1D(top, next(ups), steps),
                                   ResBlock1D(top, top), AttnBlock1D(top), ResBlock1D(top, top)]
        width = top
        for level in reversed(range(steps)):
            for _ in range(config.res_blocks):
                blocks.append(ResBlock1D(width, levels[level]))
                width = levels[level]
                if width in config.attn_channels:
                    blocks.append(AttnBlock1D(width))
            if level != 0:
                blocks.append(Upsample1D(width, next(ups), steps))
        blocks += [_group_norm(width), nn.Conv1d(width, config.out_tokens, 3, padding=1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = tokens
        for block in self.blocks:
            x = block(x, tokens.shape[-1]) if isinstance(block, Upsample1D) else block(x)
        return x


def _block_kinds(state_dict: Mapping[str, torch.Tensor]) -> dict[int, str]:
    """``blocks.<i>`` -> "conv" | "up" | "res" | "attn" | "norm", from which parameters each block has."""
    names: dict[int, set[str]] = {}
    for key in state_dict:
        if m := re.match(r"blocks\.(\d+)\.(.+)$", key):
            names.setdefault(int(m.group(1)), set()).add(m.group(2))
    kinds = {}
    for index, params in sorted(names.items()):
        if "conv1.weight" in params:
            kinds[index] = "res"
        elif "q.weight" in params:
            kinds[index] = "attn"
        elif "conv.weight" in params:
            kinds[index] = "up"
        elif state_dict[f"blocks.{index}.weight"].ndim == 3:
            kinds[index] = "conv"
        else:
            kinds[index] = "norm"
    return kinds


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> VisualEncoderConfig:
    """The architecture of a ``VisualEncoder`` state dict (released or ours), read from its tensors."""
    if "blocks.0.weight" not in state_dict:
        raise CheckpointError("not an InterLCM visual encoder (no blocks.0.weight)")
    kinds = _block_kinds(state_dict)
    order = [kinds[i] for i in sorted(kinds)]
    if order[:5] != ["conv", "up", "res", "attn", "res"] or order[-2:] != ["norm", "conv"]:
        raise CheckpointError(f"unexpected InterLCM visual encoder layout: {' '.join(order)}")
    first, last = state_dict["blocks.0.weight"], state_dict[f"blocks.{max(kinds)}.weight"]
    levels, res_per_level, attn = [], [], set()
    for index in sorted(kinds)[5:-2]:
        kind = kinds[index]
        if kind == "res":
            width = state_dict[f"blocks.{index}.conv1.weight"].shape[0]
            if not levels or (kinds[index - 1] == "up"):
                levels.append(width)
                res_per_level.append(0)
            res_per_level[-1] += 1
            levels[-1] = width
        elif kind == "attn":
            attn.add(levels[-1])
    if len(set(res_per_level)) != 1:
        raise CheckpointError(f"InterLCM visual encoder with uneven res blocks per level: {res_per_level}")
    return VisualEncoderConfig(in_tokens=first.shape[1], out_tokens=last.shape[0],
                               level_channels=tuple(reversed(levels)), res_blocks=res_per_level[0],
                               attn_channels=tuple(sorted(attn)))


def load_visual_encoder(state_dict: Mapping[str, torch.Tensor]) -> VisualEncoder:
    """A :class:`VisualEncoder` with the architecture read from ``state_dict``, loaded strictly."""
    network = VisualEncoder(infer_config(state_dict))
    try:
        network.load_state_dict(dict(state_dict), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"visual encoder weights do not fit: {str(exc).splitlines()[-1].strip()}") from None
    return network.eval()
