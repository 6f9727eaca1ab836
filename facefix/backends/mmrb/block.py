"""The mixed multi-path residual block (MMRB) of the mmrb backend's paper (Sec. 3.2, Eqs. 4-10).

The input is split in two halves along the channels; one half goes through a 3x3 conv, the other
through a 5x5 conv (PReLU after each). Both results are concatenated and fed again to a 3x3 and a 5x5
conv, whose outputs are concatenated and fused by a 1x1 conv (PReLU). The block is residual,
``out = x + P``. The fusing conv starts at zero, so ``P = PReLU(0) = 0`` and a fresh block is an
exact identity: inserted into GPEN's encoder, the network still reproduces GPEN until it is trained.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


class MMRB(nn.Module):
    """``channels`` in and out (must be even); spatial size is preserved."""

    def __init__(self, channels: int):
        super().__init__()
        if channels % 2:
            raise ValueError(f"MMRB needs an even channel count, got {channels}")
        half = channels // 2
        self.branch3 = _conv(half, half, 3)            # W1 on X1 (Eq. 5)
        self.branch5 = _conv(half, half, 5)            # W2 on X2 (Eq. 6)
        self.mixed3 = _conv(channels, half, 3)         # W1' on [P1, P2] (Eq. 7)
        self.mixed5 = _conv(channels, half, 5)         # W2' on [P1, P2] (Eq. 8)
        self.fuse = nn.Conv2d(channels, channels, 1)   # W3, the 1x1 bottleneck (Eq. 9)
        self.act3, self.act5, self.act_mixed3, self.act_mixed5, self.act_fuse = (
            nn.PReLU(half), nn.PReLU(half), nn.PReLU(half), nn.PReLU(half), nn.PReLU(channels))
        nn.init.zeros_(self.fuse.weight)
        nn.init.zeros_(self.fuse.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        shared = torch.cat([self.act3(self.branch3(x1)), self.act5(self.branch5(x2))], dim=1)
        mixed = torch.cat([self.act_mixed3(self.mixed3(shared)), self.act_mixed5(self.mixed5(shared))], dim=1)
        return x + self.act_fuse(self.fuse(mixed))


def mmrb_parameter_count(channels: int) -> int:
    """Closed form of ``MMRB(channels)``'s parameter count (weights, biases, PReLU slopes)."""
    c, h = channels, channels // 2
    convs = (9 + 25) * h * h + (9 + 25) * c * h + c * c   # weights of the five convs
    return convs + (4 * h + c) + (4 * h + c)              # conv biases, PReLU slopes
