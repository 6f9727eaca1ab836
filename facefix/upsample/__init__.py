"""Background super-resolution for whole pictures: Real-ESRGAN (basicsr's RRDBNet) with the reference
upsampler's processing. See :mod:`facefix.upsample.upsampler`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from facefix.registry import get_checkpoint
from facefix.upsample.network import (GROUP, RRDBConfig, build_rrdbnet, config_from_state_dict, default_weights_id,
                                      load_rrdbnet, rrdbnet_from_state_dict)
from facefix.upsample.upsampler import DEFAULT_TILE, TILE_PAD, BackgroundUpsampler


def load_upsampler(weights: str | Path | None, *, upscale: float, device: torch.device,
                   dtype: torch.dtype = torch.float32, tile: int = DEFAULT_TILE,
                   on_tile_halved: Callable[[int], None] | None = None) -> BackgroundUpsampler:
    """``--bg-weights`` (registry id, file, or ``None``: x2plus up to ``--upscale 2``, x4plus above) ready to run."""
    network, config = load_rrdbnet(weights, upscale)
    return BackgroundUpsampler(network, config, device, dtype=dtype, tile=tile, on_tile_halved=on_tile_halved)


def random_weight_upsampler(upscale: float, *, device: torch.device, dtype: torch.dtype = torch.float32,
                            tile: int = DEFAULT_TILE) -> BackgroundUpsampler:
    """The architecture ``--upscale`` would download (x2plus or x4plus), with random weights: for timing."""
    config = RRDBConfig(**get_checkpoint(default_weights_id(upscale)).config)
    return BackgroundUpsampler(build_rrdbnet(config), config, device, dtype=dtype, tile=tile)


__all__ = ["DEFAULT_TILE", "GROUP", "TILE_PAD", "BackgroundUpsampler", "RRDBConfig", "config_from_state_dict",
           "load_rrdbnet", "load_upsampler", "random_weight_upsampler", "rrdbnet_from_state_dict"]
