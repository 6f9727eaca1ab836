"""Colour correction after decoding: keep the output's detail, take the input's colours.

The wavelet fix (from StableSR, what InterLCM's restoration models use) splits both images into a
5-level à-trous decomposition with a dilated 3x3 binomial blur, then adds the output's high
frequencies to the input's low ones. It runs on the unclamped decoded image, in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_BINOMIAL = ((1.0, 2.0, 1.0), (2.0, 4.0, 2.0), (1.0, 2.0, 1.0))


def wavelet_blur(image: torch.Tensor, radius: int) -> torch.Tensor:
    """Per-channel binomial blur with dilation ``radius`` (replicate padding keeps the size)."""
    channels = image.shape[1]
    kernel = torch.tensor(_BINOMIAL, dtype=image.dtype, device=image.device) / 16
    kernel = kernel.expand(channels, 1, 3, 3)
    padded = F.pad(image, (radius,) * 4, mode="replicate")
    return F.conv2d(padded, kernel, groups=channels, dilation=radius)


def wavelet_decomposition(image: torch.Tensor, levels: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """``(high, low)`` with ``high + low == image``; level ``i`` blurs with dilation ``2**i``."""
    high = torch.zeros_like(image)
    low = image
    for level in range(levels):
        blurred = wavelet_blur(low, 2**level)
        high = high + (low - blurred)
        low = blurred
    return high, low


def wavelet_color_fix(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The detail of ``content`` on the colours (low frequencies) of ``style``; both (B, 3, H, W)."""
    content_high, _ = wavelet_decomposition(content)
    _, style_low = wavelet_decomposition(style)
    return content_high + style_low
