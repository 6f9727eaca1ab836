"""Reading fusion-network weights: GFPGANv1Clean release files and our own trained checkpoints.

Both formats share the backbone keys; ours add ``fusion_blocks.*``. The architecture is read from the
tensor shapes (no hyper-parameters needed from the user), then the weights load strictly: every
backbone key must be present and used, and the fusion blocks are either all present or all absent
(then they stay at their identity initialisation).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch

from facefix.backends.fusion.network import FusionConfig, FusionGFPGAN
from facefix.backends.loading import load_backbone_strict
from facefix.errors import CheckpointError

#: keys that identify the GFPGANv1Clean layout (spandrel-style detection)
GFPGAN_KEYS = ("conv_body_first.weight", "final_linear.weight", "stylegan_decoder.constant_input.weight",
               "condition_scale.0.0.weight", "stylegan_decoder.to_rgb1.modulated_conv.weight")
FUSION_PREFIX = "fusion_blocks."


def is_gfpgan_clean(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return all(key in state_dict for key in GFPGAN_KEYS)


def _count(state_dict: Mapping[str, torch.Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for key in state_dict if (m := regex.match(key))})


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> FusionConfig:
    """Read out_size, style width, channel tables, MLP depth and fusion-block count from the tensors."""
    if not is_gfpgan_clean(state_dict):
        missing = [k for k in GFPGAN_KEYS if k not in state_dict]
        raise CheckpointError(f"not a GFPGANv1Clean-format checkpoint (missing {', '.join(missing)})")
    num_down = _count(state_dict, r"conv_body_down\.(\d+)\.")
    out_size = 2 ** (num_down + 2)
    log_size = int(math.log2(out_size))
    num_style_feat = state_dict["stylegan_decoder.style_conv1.modulated_conv.modulation.weight"].shape[1]

    unet = {out_size: state_dict["conv_body_first.weight"].shape[0], 4: state_dict["final_conv.weight"].shape[0]}
    for i in range(num_down):
        unet[2 ** (log_size - i - 1)] = state_dict[f"conv_body_down.{i}.conv2.weight"].shape[0]
    decoder = {4: state_dict["stylegan_decoder.constant_input.weight"].shape[1]}
    for level in range(num_down):
        weight = state_dict[f"stylegan_decoder.style_convs.{2 * level}.modulated_conv.weight"]
        decoder[2 ** (level + 3)] = weight.shape[1]
    return FusionConfig(
        out_size=out_size,
        num_style_feat=num_style_feat,
        num_mlp=_count(state_dict, r"stylegan_decoder\.style_mlp\.(\d+)\.weight"),
        decoder_channels=dict(sorted(decoder.items())),
        unet_channels=dict(sorted(unet.items())),
        num_fusion_blocks=_count(state_dict, r"fusion_blocks\.(\d+)\.") or 3,
    )


def load_fusion_network(state_dict: Mapping[str, torch.Tensor]) -> FusionGFPGAN:
    """Build the network described by ``state_dict`` and load it strictly (see the module docstring)."""
    return load_backbone_strict(FusionGFPGAN(infer_config(state_dict)), state_dict, (FUSION_PREFIX,))
