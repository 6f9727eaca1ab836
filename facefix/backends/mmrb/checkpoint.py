"""Reading mmrb-network weights: GPEN ``FullGenerator`` release files and our own trained checkpoints.

GPEN's files are bare state dicts (its training script's checkpoints wrap them in ``g_ema``, which the
hub unwraps). The architecture - size, style width, mapping depth, channel table - is read from the
tensor shapes; then the GPEN part loads strictly and the paper's additions are all present (ours) or
all absent (GPEN's, which leaves them at their identity initialisation).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from facefix.backends.loading import load_backbone_strict
from facefix.backends.mmrb.network import EXTRA_PREFIXES, MMRBConfig, MMRBNet
from facefix.errors import CheckpointError

#: keys that identify GPEN's FullGenerator layout
GPEN_KEYS = ("ecd0.0.0.weight", "final_linear.0.weight", "generator.input.input", "generator.conv1.conv.weight",
             "generator.to_rgb1.conv.weight")


def is_gpen(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return all(key in state_dict for key in GPEN_KEYS)


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> MMRBConfig:
    """Read size, style width, mapping depth and the channel table from the tensors."""
    if not is_gpen(state_dict):
        missing = [k for k in GPEN_KEYS if k not in state_dict]
        raise CheckpointError(f"not a GPEN FullGenerator-format checkpoint (missing {', '.join(missing)})")
    stages = len({m.group(1) for key in state_dict if (m := re.match(r"ecd(\d+)\.", key))})
    size = 2 ** (stages + 1)
    channels = {size: state_dict["ecd0.0.0.weight"].shape[0]}
    for stage in range(1, stages):
        weight = state_dict.get(f"ecd{stage}.0.1.weight")
        if weight is None:
            raise CheckpointError(f"GPEN checkpoint lacks ecd{stage}.0.1.weight "
                                  f"(encoder stages must be 0..{stages - 1})")
        channels[size >> stage] = weight.shape[0]
    n_mlp = len({m.group(1) for key in state_dict if (m := re.match(r"generator\.style\.(\d+)\.weight", key))})
    return MMRBConfig(size=size, style_dim=state_dict["final_linear.0.weight"].shape[0], n_mlp=n_mlp,
                      channels=dict(sorted(channels.items())))


def load_mmrb_network(state_dict: Mapping[str, torch.Tensor]) -> MMRBNet:
    """Build the network described by ``state_dict`` and load it strictly (see the module docstring)."""
    return load_backbone_strict(MMRBNet(infer_config(state_dict)), state_dict, EXTRA_PREFIXES)
