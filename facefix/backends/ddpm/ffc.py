"""Fast Fourier convolution (Chi et al. 2020) as used by LaMa, with LaMa's parameter names.

An FFC splits channels into a *local* part (ordinary convolutions) and a *global* part, whose
global-to-global path works in the frequency domain: a 1x1 convolution over the real and imaginary
parts of the 2-D FFT reaches the whole image in one layer. The four paths are local->local,
local->global, global->local (k x k convs) and global->global (:class:`SpectralTransform`).

``norm_layer`` is a factory ``channels -> module``; LaMa uses BatchNorm2d (the default here, so
LaMa's blocks load and match), the ddpm backend passes a GroupNorm factory instead.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

NormFactory = Callable[[int], nn.Module]


class FourierUnit(nn.Module):
    """rFFT -> 1x1 conv + norm + ReLU over interleaved (real, imaginary) channels -> inverse rFFT."""

    def __init__(self, in_channels: int, out_channels: int, norm_layer: NormFactory = nn.BatchNorm2d):
        super().__init__()
        self.conv_layer = nn.Conv2d(2 * in_channels, 2 * out_channels, 1, bias=False)
        self.bn = norm_layer(2 * out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        dtype = x.dtype
        spectrum = torch.fft.rfftn(x.float(), dim=(-2, -1), norm="ortho")
        # channel 2k is the real part of channel k, 2k+1 its imaginary part
        stacked = torch.stack([spectrum.real, spectrum.imag], dim=2).reshape(batch, -1, height, width // 2 + 1)
        stacked = self.relu(self.bn(self.conv_layer(stacked.to(dtype))))
        real, imag = stacked.float().reshape(batch, -1, 2, height, width // 2 + 1).unbind(dim=2)
        return torch.fft.irfftn(torch.complex(real, imag), s=(height, width), dim=(-2, -1), norm="ortho").to(dtype)


class SpectralTransform(nn.Module):
    """The global->global path: 1x1 reduce, Fourier unit (+ optional local Fourier unit), 1x1 expand."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, enable_lfu: bool = True,
                 norm_layer: NormFactory = nn.BatchNorm2d):
        super().__init__()
        self.enable_lfu = enable_lfu
        self.downsample = nn.AvgPool2d(2, stride=2) if stride == 2 else nn.Identity()
        hidden = out_channels // 2
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, hidden, 1, bias=False), norm_layer(hidden), nn.ReLU())
        self.fu = FourierUnit(hidden, hidden, norm_layer)
        if enable_lfu:
            self.lfu = FourierUnit(hidden, hidden, norm_layer)
        self.conv2 = nn.Conv2d(hidden, out_channels, 1, bias=False)

    def _local_fourier(self, x: torch.Tensor) -> torch.Tensor:
        """LaMa's LFU: the first quarter of the channels, cut into four spatial quadrants stacked on
        channels, through a Fourier unit, tiled back 2x2. Needs square inputs (LaMa splits both axes
        at ``H // 2``)."""
        channels, half = x.shape[1], x.shape[-2] // 2
        quarter = x[:, : channels // 4]
        quarter = torch.cat(torch.split(quarter, half, dim=-2), dim=1)
        quarter = torch.cat(torch.split(quarter, half, dim=-1), dim=1)
        return self.lfu(quarter).repeat(1, 1, 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.downsample(x))
        out = x + self.fu(x)
        if self.enable_lfu:
            out = out + self._local_fourier(x)
        return self.conv2(out)


class FFC(nn.Module):
    """The four-path fast Fourier convolution on a ``(local, global)`` pair."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, ratio_gin: float,
                 ratio_gout: float, padding: int = 0, dilation: int = 1, enable_lfu: bool = True,
                 padding_mode: str = "reflect", norm_layer: NormFactory = nn.BatchNorm2d):
        super().__init__()
        in_g = int(in_channels * ratio_gin)
        out_g = int(out_channels * ratio_gout)
        in_l, out_l = in_channels - in_g, out_channels - out_g
        self.ratio_gout = ratio_gout

        def conv(cin: int, cout: int) -> nn.Module:
            if cin == 0 or cout == 0:
                return nn.Identity()
            return nn.Conv2d(cin, cout, kernel_size, padding=padding, dilation=dilation, bias=False,
                             padding_mode=padding_mode)

        self.convl2l, self.convl2g, self.convg2l = conv(in_l, out_l), conv(in_l, out_g), conv(in_g, out_l)
        self.convg2g = (SpectralTransform(in_g, out_g, enable_lfu=enable_lfu, norm_layer=norm_layer)
                        if in_g and out_g else nn.Identity())

    def forward(self, x: tuple[torch.Tensor, torch.Tensor | int]) -> tuple[torch.Tensor | int, torch.Tensor | int]:
        x_l, x_g = x
        out_l: torch.Tensor | int = 0
        out_g: torch.Tensor | int = 0
        if self.ratio_gout != 1:
            out_l = self.convl2l(x_l) + self.convg2l(x_g)
        if self.ratio_gout != 0:
            out_g = self.convl2g(x_l) + self.convg2g(x_g)
        return out_l, out_g


class FFCNormAct(nn.Module):
    """FFC followed by a norm and an activation on each branch (LaMa's ``FFC_BN_ACT``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, ratio_gin: float, ratio_gout: float,
                 padding: int = 0, dilation: int = 1, enable_lfu: bool = True,
                 norm_layer: NormFactory = nn.BatchNorm2d, activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        self.ffc = FFC(in_channels, out_channels, kernel_size, ratio_gin=ratio_gin, ratio_gout=ratio_gout,
                       padding=padding, dilation=dilation, enable_lfu=enable_lfu, norm_layer=norm_layer)
        out_g = int(out_channels * ratio_gout)
        out_l = out_channels - out_g
        self.bn_l = norm_layer(out_l) if out_l else nn.Identity()
        self.bn_g = norm_layer(out_g) if out_g else nn.Identity()
        self.act_l = activation() if out_l else nn.Identity()
        self.act_g = activation() if out_g else nn.Identity()

    def forward(self, x):
        x_l, x_g = self.ffc(x)
        return self.act_l(self.bn_l(x_l)), self.act_g(self.bn_g(x_g))


class FFCResnetBlock(nn.Module):
    """Two 3x3 FFC-norm-activation layers with a residual connection on both branches."""

    def __init__(self, channels: int, *, ratio: float = 0.75, enable_lfu: bool = False, dilation: int = 1,
                 norm_layer: NormFactory = nn.BatchNorm2d):
        super().__init__()
        options = {"ratio_gin": ratio, "ratio_gout": ratio, "padding": dilation, "dilation": dilation,
                   "enable_lfu": enable_lfu, "norm_layer": norm_layer}
        self.conv1 = FFCNormAct(channels, channels, 3, **options)
        self.conv2 = FFCNormAct(channels, channels, 3, **options)
        self.global_channels = int(channels * ratio)

    def forward(self, x: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x_l, x_g = x
        y_l, y_g = self.conv2(self.conv1((x_l, x_g)))
        return x_l + y_l, x_g + y_g

    def forward_inline(self, x: torch.Tensor) -> torch.Tensor:
        """One tensor in and out; its last ``global_channels`` channels are the global part."""
        split = x.shape[1] - self.global_channels
        return torch.cat(self((x[:, :split], x[:, split:])), dim=1)
