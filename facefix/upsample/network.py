"""Real-ESRGAN networks: basicsr's RRDBNet, its configuration read from a state dict's tensor shapes.

Any RRDBNet file loads, bare or wrapped in ``params_ema`` / ``params``: the number of blocks, the
feature widths and the scale come from the tensors, and the load is strict, so a file of another
architecture is refused with the names that do not fit rather than half-loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from facefix import hub
from facefix._compat import import_basicsr
from facefix.errors import CheckpointError
from facefix.registry import Checkpoint

#: registry group of the Real-ESRGAN weights (``weights/realesrgan.toml``)
GROUP = "realesrgan"
#: RRDBNet folds its input into channels before the first conv: 4 for scale 2 (pixel-unshuffle by 2),
#: 16 for scale 1 (by 4), none for scale 4
_UNSHUFFLE_CHANNELS = {4: 1, 2: 4, 1: 16}
_BLOCK = re.compile(r"^body\.(\d+)\.")


@dataclass(frozen=True)
class RRDBConfig:
    """basicsr ``RRDBNet`` arguments."""

    scale: int
    num_feat: int
    num_block: int
    num_grow_ch: int
    num_in_ch: int = 3
    num_out_ch: int = 3

    @property
    def input_multiple(self) -> int:
        """Input height and width must be multiples of this (pixel-unshuffle)."""
        return {2: 2, 1: 4}.get(self.scale, 1)


def config_from_state_dict(state_dict: dict[str, torch.Tensor], source: str = "checkpoint") -> RRDBConfig:
    """The RRDBNet that has exactly these tensors' shapes."""
    try:
        first = state_dict["conv_first.weight"]
        last = state_dict["conv_last.weight"]
        grow = state_dict["body.0.rdb1.conv1.weight"]
    except KeyError as missing:
        raise CheckpointError(f"{source}: not an RRDBNet (Real-ESRGAN) state dict, it lacks {missing}") from None
    num_out_ch, num_feat = int(last.shape[0]), int(first.shape[0])
    folded = int(first.shape[1]) // num_out_ch
    scales = [scale for scale, channels in _UNSHUFFLE_CHANNELS.items() if channels == folded]
    if not scales or int(first.shape[1]) % num_out_ch:
        raise CheckpointError(f"{source}: conv_first takes {first.shape[1]} channels, which fits no RRDBNet scale "
                              f"for {num_out_ch} output channels")
    blocks = {int(match.group(1)) for key in state_dict if (match := _BLOCK.match(key))}
    return RRDBConfig(scale=scales[0], num_feat=num_feat, num_block=len(blocks), num_grow_ch=int(grow.shape[0]),
                      num_in_ch=num_out_ch, num_out_ch=num_out_ch)


def build_rrdbnet(config: RRDBConfig) -> nn.Module:
    rrdbnet = import_basicsr("archs.rrdbnet_arch").RRDBNet
    return rrdbnet(num_in_ch=config.num_in_ch, num_out_ch=config.num_out_ch, scale=config.scale,
                   num_feat=config.num_feat, num_block=config.num_block, num_grow_ch=config.num_grow_ch)


def rrdbnet_from_state_dict(state_dict: dict[str, torch.Tensor], source: str = "checkpoint") -> tuple[nn.Module,
                                                                                                        RRDBConfig]:
    """An RRDBNet holding ``state_dict`` (strict), in eval mode, and its config."""
    config = config_from_state_dict(state_dict, source)
    network = build_rrdbnet(config)
    try:
        network.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split("\n\t")[1:2]) or str(exc).splitlines()[0]
        raise CheckpointError(f"{source}: does not fit RRDBNet {config}: {detail[:300]}") from None
    return network.eval().requires_grad_(False), config


def default_weights_id(upscale: float) -> str:
    """x2plus up to ``--upscale 2``, x4plus above (GFPGAN and CodeFormer always use x2plus and resize)."""
    return f"{GROUP}.x4plus" if upscale > 2 else f"{GROUP}.x2plus"


def resolve_upsampler_weights(spec: str | Path | None, upscale: float) -> tuple[Checkpoint | None, Path]:
    """``--bg-weights``: a registry id or a file; by default the one :func:`default_weights_id` names."""
    return hub.resolve_weights(spec or default_weights_id(upscale), GROUP)


def load_rrdbnet(spec: str | Path | None, upscale: float = 2) -> tuple[nn.Module, RRDBConfig]:
    """Resolve ``--bg-weights`` (downloading a registry file once) and load it strictly and safely."""
    checkpoint, path = resolve_upsampler_weights(spec, upscale)
    state_dict = hub.load_state_dict(path, checkpoint.wrapper if checkpoint else None)
    return rrdbnet_from_state_dict(state_dict, str(path))
