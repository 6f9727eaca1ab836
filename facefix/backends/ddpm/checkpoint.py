"""Reading ddpm-backend weights.

Two formats:

* Palette's ``Network`` files (``{epoch}_Network.pth`` / ``_Network_ema.pth``): the U-Net under
  ``denoise_fn.`` plus, in the non-EMA file, six schedule buffers, which are dropped (we compute the
  schedules). Our own trained files have the bare U-Net keys, with or without FFC blocks. The
  architecture is read from the shapes; only the attention head width is invisible there, so it comes
  from the caller (Palette's 32 by default).
* diffusers ``UNet2DModel`` files (``google/ddpm-ema-celebahq-256``), used unconditionally with RePaint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from facefix.backends.ddpm.unet import DiffusionUNet, UNetConfig
from facefix.errors import CheckpointError

PALETTE_PREFIX = "denoise_fn."
SCHEDULE_BUFFERS = ("gammas", "sqrt_recip_gammas", "sqrt_recipm1_gammas", "posterior_log_variance_clipped",
                    "posterior_mean_coef1", "posterior_mean_coef2")


def is_palette(state_dict: Mapping[str, torch.Tensor]) -> bool:
    keys = strip_palette(state_dict)
    return "cond_embed.0.weight" in keys and "input_blocks.0.0.weight" in keys


def is_diffusers_unet(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return "conv_in.weight" in state_dict and "time_embedding.linear_1.weight" in state_dict


def strip_palette(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the schedule buffers and the ``denoise_fn.`` prefix of Palette's files."""
    return {key.removeprefix(PALETTE_PREFIX): value for key, value in state_dict.items() if key not in SCHEDULE_BUFFERS}


def _block_ids(state_dict: Mapping[str, torch.Tensor], prefix: str) -> list[int]:
    return sorted({int(m.group(1)) for key in state_dict if (m := re.match(rf"{prefix}\.(\d+)\.", key))})


def _has(state_dict: Mapping[str, torch.Tensor], prefix: str, pattern: str) -> bool:
    return any(key.startswith(prefix) and re.search(pattern, key[len(prefix):]) for key in state_dict)


def infer_unet_config(state_dict: Mapping[str, torch.Tensor], num_head_channels: int = 32,
                      dropout: float = 0.0) -> UNetConfig:
    """Levels, widths, blocks per level, attention placement and FFC use, read from the tensors
    (the head width and the dropout rate are not in the tensors: they are given)."""
    if not is_palette(state_dict):
        raise CheckpointError("not a Palette/facefix diffusion U-Net checkpoint (no cond_embed / input_blocks)")
    sd = strip_palette(state_dict)
    inner = sd["cond_embed.0.weight"].shape[1]
    outputs = _block_ids(sd, "output_blocks")
    # decoder blocks that end a level (all but the last) carry an up-sampling ResBlock after index 0
    ups = [i for i in outputs if _has(sd, f"output_blocks.{i}.", r"^[12]\.in_layers")]
    levels = len(ups) + 1
    res_blocks = len(outputs) // levels - 1
    mults, attn_ds = [], set()
    for level in range(levels):
        first = 1 + level * (res_blocks + 1)
        prefix = f"input_blocks.{first}.0."
        width_key = next((k for k in (prefix + "in_layers.2.weight", prefix + "ffc.conv1.ffc.convl2l.weight")
                          if k in sd), None)
        if width_key is None:
            raise CheckpointError(f"unexpected diffusion U-Net layout (no block at input_blocks.{first})")
        width = sd[width_key].shape[0]
        if "ffc" in width_key:
            width = sd[prefix + "emb.weight"].shape[0]
        mults.append(width // inner)
        if _has(sd, f"input_blocks.{first}.", r"^1\.qkv"):
            attn_ds.add(2**level)
    ffc_key = "input_blocks.1.0.ffc.conv1.ffc.convl2g.weight"
    ffc = ffc_key in sd
    ratio = sd[ffc_key].shape[0] / (inner * mults[0]) if ffc else 0.75
    return UNetConfig(in_channel=sd["input_blocks.0.0.weight"].shape[1], out_channel=sd["out.2.weight"].shape[0],
                      inner_channel=inner, channel_mults=tuple(mults), res_blocks=res_blocks,
                      attn_res=tuple(sorted(attn_ds)), num_head_channels=num_head_channels, dropout=dropout, ffc=ffc,
                      ffc_ratio=ratio)


def load_unet(state_dict: Mapping[str, torch.Tensor], num_head_channels: int = 32) -> DiffusionUNet:
    """The U-Net described by ``state_dict``, loaded strictly."""
    network = DiffusionUNet(infer_unet_config(state_dict, num_head_channels))
    try:
        network.load_state_dict(strip_palette(state_dict), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"diffusion U-Net weights do not fit: {str(exc).splitlines()[1].strip()}") from None
    return network.eval()


#: diffusers renamed the attention parameters in 0.14; early checkpoints use the old names
_OLD_ATTENTION_NAMES = {".query.": ".to_q.", ".key.": ".to_k.", ".value.": ".to_v.", ".proj_attn.": ".to_out.0."}


def load_diffusers_unet(state_dict: Mapping[str, torch.Tensor], config: Mapping):
    """A diffusers ``UNet2DModel`` of ``config`` with ``state_dict`` (old attention names mapped), strictly."""
    from diffusers import UNet2DModel

    renamed = {}
    for key, value in state_dict.items():
        for old, new in _OLD_ATTENTION_NAMES.items():
            if "attentions." in key and old in key:
                key = key.replace(old, new)
        renamed[key] = value
    network = UNet2DModel(**config)
    try:
        network.load_state_dict(renamed, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"UNet2DModel weights do not fit: {str(exc).splitlines()[1].strip()}") from None
    return network.eval()
