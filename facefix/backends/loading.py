"""Strict loading for networks that extend a released architecture with new modules.

A released checkpoint (GFPGAN, GPEN) has every backbone key and none of the additions; our trained
checkpoints have both. Anything else - a missing backbone key, an unknown key, some but not all of the
additions, a wrong shape - is an error that names the first offending keys.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from facefix.errors import CheckpointError


def load_backbone_strict(network: nn.Module, state_dict: Mapping[str, torch.Tensor],
                         extra_prefixes: tuple[str, ...]) -> nn.Module:
    """Load ``state_dict`` into ``network``; keys under ``extra_prefixes`` may be all absent (they then
    keep their initialisation, an identity by design) or all present."""
    own = network.state_dict()
    present = {key for key in own if key.startswith(extra_prefixes) and key in state_dict}
    extras = {key for key in own if key.startswith(extra_prefixes)}
    expected = set(own) if present else set(own) - extras
    missing = sorted(expected - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"weights do not match the architecture read from them "
                              f"(missing: {missing[:4]}, unexpected: {unexpected[:4]})")
    try:
        network.load_state_dict(dict(state_dict), strict=bool(present))
    except RuntimeError as exc:
        lines = str(exc).splitlines()
        raise CheckpointError(f"weights do not fit: {lines[1].strip() if len(lines) > 1 else exc}") from None
    return network.eval()
