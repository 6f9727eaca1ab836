"""Whole pictures through a Real-ESRGAN network, processed exactly as the reference upsampler does.

Per image: BGR -> RGB in [0, 1] (uint8 / 255, uint16 / 65535); reflect-pad bottom and right by
``pre_pad`` and then to the multiple the network's pixel-unshuffle needs; run the network on the whole
image or tile by tile (each tile read with ``tile_pad`` extra pixels on every side that exists, only
its unpadded part kept); crop the padding off; clamp to [0, 1]; back to BGR; ``round(x * max)``; and,
when the wanted size is not the network's scale, a LANCZOS4 resize. An alpha channel goes through the
network on its own (as a gray picture) and is re-attached.

A tile that runs out of device memory halves the tile size, which is kept for the next pictures (and
video frames); the picture is then processed again from the start with the smaller tiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facefix.errors import FacefixError
from facefix.limits import DEFAULT_TILE
from facefix.memory import is_out_of_memory, release_cached_memory
from facefix.upsample.network import RRDBConfig

#: the reference's tile padding (the tile default, GFPGAN's and CodeFormer's ``--bg_tile``, is in limits)
TILE_PAD = 10
#: below this many input pixels a tile is mostly padding: out of memory there is an error
MIN_TILE = 16


class TileTooLarge(Exception):
    """Raised inside :meth:`BackgroundUpsampler._run` when a tile ran out of memory."""


class BackgroundUpsampler:
    """An RRDBNet on ``device`` that enlarges whole BGR pictures (uint8 or uint16).

    ``tile`` is the tile size in input pixels (0: the whole image at once); after an out-of-memory
    error it holds the smaller size that fits. ``on_tile_halved(new_size)`` is told when that happens.
    """

    def __init__(self, network: nn.Module, config: RRDBConfig, device: torch.device, *,
                 dtype: torch.dtype = torch.float32, tile: int = DEFAULT_TILE, tile_pad: int = TILE_PAD,
                 pre_pad: int = 0, on_tile_halved: Callable[[int], None] | None = None):
        if tile < 0:
            raise FacefixError(f"--bg-tile {tile}: must be 0 (whole image) or a positive number of pixels")
        self.config = config
        self.scale = config.scale
        self.device = device
        self.dtype = dtype
        self.network = network.to(device=device, dtype=dtype).eval().requires_grad_(False)
        self.multiple = config.input_multiple
        self.tile = self._fit_tile(tile) if tile else 0
        # pixel-unshuffle needs every padded tile's sides to be multiples too
        self.tile_pad = math.ceil(tile_pad / self.multiple) * self.multiple
        self.pre_pad = pre_pad
        self.on_tile_halved = on_tile_halved

    def _fit_tile(self, tile: int) -> int:
        return max(tile // self.multiple * self.multiple, self.multiple)

    # ---- images ---------------------------------------------------------------------------------
    def enhance(self, bgr: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """``bgr`` (H x W x 3, uint8 or uint16) enlarged to ``size`` (width, height; default: the
        network's scale), same dtype."""
        max_value = 65535.0 if bgr.dtype == np.uint16 else 255.0
        rgb = np.ascontiguousarray(bgr[..., ::-1], dtype=np.float32) / max_value
        output = self._upsample(rgb)[..., ::-1]
        return self._finish(output, bgr.dtype, max_value, size)

    def enhance_alpha(self, alpha: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """An alpha channel (H x W) through the network as a gray picture, clamped, back to one channel."""
        max_value = 65535.0 if alpha.dtype == np.uint16 else 255.0
        gray = np.repeat(alpha[..., None].astype(np.float32) / max_value, 3, axis=2)
        output = cv2.cvtColor(np.clip(self._upsample(gray), 0, 1), cv2.COLOR_RGB2GRAY)
        return self._finish(output, alpha.dtype, max_value, size)

    def _finish(self, output: np.ndarray, dtype: np.dtype, max_value: float,
                size: tuple[int, int] | None) -> np.ndarray:
        output = (np.clip(output, 0, 1) * max_value).round().astype(dtype)
        if size is not None and (output.shape[1], output.shape[0]) != tuple(size):
            output = cv2.resize(output, tuple(size), interpolation=cv2.INTER_LANCZOS4)
        return np.ascontiguousarray(output)

    def _upsample(self, rgb: np.ndarray) -> np.ndarray:
        """H x W x 3 float RGB in [0, 1] -> (H * scale) x (W * scale) x 3 float RGB, unclamped."""
        height, width = rgb.shape[:2]
        image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
        image = self._pad(image)
        while True:
            try:
                with torch.inference_mode():
                    output = self._run(image)
                break
            except TileTooLarge:
                self._halve_tile(image.shape[-2:])
        output = output[0, :, :height * self.scale, :width * self.scale]
        return output.permute(1, 2, 0).numpy()

    def _pad(self, image: torch.Tensor) -> torch.Tensor:
        if self.pre_pad:
            image = _reflect_pad(image, self.pre_pad, self.pre_pad)
        height, width = image.shape[-2:]
        return _reflect_pad(image, -height % self.multiple, -width % self.multiple)

    # ---- the network, whole or in tiles ---------------------------------------------------------
    def _forward(self, tile: torch.Tensor) -> torch.Tensor:
        try:
            return self.network(tile.to(self.device, self.dtype)).float().cpu()
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
        # outside the except block, so that the failed call's tensors are already freed
        release_cached_memory(self.device)
        raise TileTooLarge

    def _run(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        if not self.tile:
            return self._forward(image)
        scale, tile, pad = self.scale, self.tile, self.tile_pad
        output = image.new_zeros((1, image.shape[1], height * scale, width * scale))
        for y0 in range(0, height, tile):
            for x0 in range(0, width, tile):
                y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
                py0, px0 = max(y0 - pad, 0), max(x0 - pad, 0)
                py1, px1 = min(y1 + pad, height), min(x1 + pad, width)
                result = self._forward(image[..., py0:py1, px0:px1])
                top, left = (y0 - py0) * scale, (x0 - px0) * scale
                output[..., y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                    result[..., top:top + (y1 - y0) * scale, left:left + (x1 - x0) * scale]
        return output

    def _halve_tile(self, shape: torch.Size) -> None:
        current = self.tile or max(shape)
        halved = self._fit_tile(current // 2)
        if current <= MIN_TILE or halved >= current:
            raise FacefixError(f"background upsampler: out of memory on {self.device} even for "
                               f"{current}-pixel tiles; try --bg-upsampler none or --device cpu")
        self.tile = halved
        if self.on_tile_halved is not None:
            self.on_tile_halved(halved)


def _reflect_pad(image: torch.Tensor, bottom: int, right: int) -> torch.Tensor:
    if not bottom and not right:
        return image
    # reflection needs more pixels than it adds: a 1-pixel-high picture repeats its edge instead
    fits = bottom < image.shape[-2] and right < image.shape[-1]
    return F.pad(image, (0, right, 0, bottom), mode="reflect" if fits else "replicate")
