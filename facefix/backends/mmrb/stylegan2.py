"""The original StyleGAN2 layers (equalised learning rate, FIR filters), named as in GPEN's releases.

Unlike :mod:`facefix.backends.fusion.stylegan2_clean`, these layers store unscaled weights and apply the
equalised-learning-rate factor ``1 / sqrt(fan_in)`` at run time, and they resample with the 4-tap FIR
filter ``[1, 3, 3, 1]`` (``upfirdn2d``) instead of bilinear interpolation. Everything is plain PyTorch
(no custom CUDA kernels), so it runs and matches on any device.

Reduced precision: as in the clean layers, style modulation and demodulation run in float32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def make_kernel(taps: tuple[int, ...] = (1, 3, 3, 1)) -> torch.Tensor:
    """The separable 2-D FIR kernel ``outer(taps, taps)`` normalised to sum 1."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = torch.outer(k, k)
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, *, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative pads crop), convolve with ``kernel``, downsample.

    The same ``pad = (before, after)`` applies to both axes; the output side is
    ``(H * up + before + after - len(kernel)) // down + 1``.
    """
    batch, channels, height, width = x.shape
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(batch, channels, height * up, width * up)
    before, after = pad
    x = F.pad(x, (max(before, 0), max(after, 0), max(before, 0), max(after, 0)))
    x = x[..., max(-before, 0): x.shape[-2] - max(-after, 0), max(-before, 0): x.shape[-1] - max(-after, 0)]
    # a true convolution: flip the kernel, because conv2d correlates
    weight = kernel.flip(0, 1).to(x.dtype)[None, None].expand(channels, 1, *kernel.shape)
    x = F.conv2d(x, weight, groups=channels)
    return x[..., ::down, ::down] if down > 1 else x


class Blur(nn.Module):
    """FIR low-pass filter (scaled by ``upsample_factor ** 2`` after zero-insertion upsampling)."""

    def __init__(self, pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        self.pad = pad
        self.register_buffer("kernel", make_kernel() * upsample_factor**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x FIR upsampling (used on ToRGB skips)."""

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel() * factor**2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``sqrt(2) * leaky_relu(x + bias, 0.2)`` with ``bias`` broadcast over dim 1."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape).to(x.dtype), 0.2) * SQRT2


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class ScaledLeakyReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.2) * SQRT2


class EqualConv2d(nn.Module):
    """Conv2d whose weight is stored N(0, 1) and scaled by ``1 / sqrt(fan_in)`` at run time."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate; ``lr_mul`` slows it down (the mapping MLP uses 0.01)."""

    def __init__(self, in_features: int, out_features: int, *, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul, self.activate = lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activate:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class ConvLayer(nn.Sequential):
    """[Blur] + EqualConv2d + FusedLeakyReLU; with ``downsample`` the conv has stride 2 after the blur.

    A Sequential so that parameter names (``N.weight``, ``N.bias``) match the released files.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, downsample: bool = False,
                 bias: bool = True, activate: bool = True):
        layers: list[nn.Module] = []
        if downsample:
            p = 4 - 2 + (kernel_size - 1)
            layers.append(Blur(pad=((p + 1) // 2, p // 2)))
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride=2 if downsample else 1,
                                  padding=0 if downsample else kernel_size // 2, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU())
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Discriminator residual block: two 3x3 convs (the second down-samples) plus a 1x1 down-sampled skip."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True)
        self.skip = ConvLayer(in_channels, out_channels, 1, downsample=True, bias=False, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution; ``upsample`` uses a stride-2 transposed conv followed by a FIR blur."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, style_dim: int,
                 demodulate: bool = True, upsample: bool = False, eps: float = 1e-8):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.upsample, self.eps = demodulate, upsample, eps
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        if upsample:
            p = (4 - 2) - (kernel_size - 1)
            self.blur = Blur(pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        # float32 whatever the module dtype: in fp16 the demodulation sum of squares overflows
        style = self.modulation(style).float().view(batch, 1, channels, 1, 1)
        weight = self.scale * self.weight.float() * style
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + self.eps)
        weight = weight.to(x.dtype)
        x = x.reshape(1, batch * channels, height, width)
        k = self.kernel_size
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(batch * channels, self.out_channels, k, k)
            out = F.conv_transpose2d(x, weight, stride=2, groups=batch)
            out = self.blur(out.view(batch, self.out_channels, *out.shape[-2:]))
        else:
            out = F.conv2d(x, weight.view(batch * self.out_channels, channels, k, k), padding=k // 2, groups=batch)
            out = out.view(batch, self.out_channels, height, width)
        return out


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB (no demodulation), plus the FIR-upsampled RGB of the previous scale."""

    def __init__(self, in_channels: int, *, style_dim: int, upsample: bool = True):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim=style_dim, demodulate=False)

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias.to(x.dtype)
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


def minibatch_stddev(x: torch.Tensor) -> torch.Tensor:
    """One extra channel: the feature standard deviation over the *whole batch* (GPEN's variant),
    averaged to a single scalar and broadcast to every sample and pixel."""
    std = torch.sqrt(x.float().var(dim=0, unbiased=False) + 1e-8).mean()
    return std.to(x.dtype).expand(x.shape[0], 1, *x.shape[2:])
