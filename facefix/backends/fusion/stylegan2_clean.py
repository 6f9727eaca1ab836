"""StyleGAN2 without custom CUDA ops ("clean"), with the parameter names of GFPGAN's released files.

Differences from the original StyleGAN2 that the weights depend on: bilinear up-sampling instead of
FIR-filtered transposed convolutions, no equalised-learning-rate scaling at run time (stored weights
are used as they are), and plain ``nn.Linear`` modulation layers.

Reduced precision: the modulated weights are built and demodulated in float32 whatever the module's
dtype. In float16 the sum of squares over ``in_channels x k x k`` weights overflows (65504 is reached
by a few thousand modest values), demodulation turns into ``rsqrt(inf) = 0`` and the image into
garbage; that is why GFPGAN is known to break under ``.half()``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether ``x`` is laid out channels-last and not also plain contiguous (as tensors with C = 1 are)."""
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class NormStyleCode(nn.Module):
    """Pixel norm of the style code (first layer of the mapping MLP; it has no parameters)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class ModulatedConv2d(nn.Module):
    """Convolution whose weights are scaled per sample by a style vector (and optionally demodulated)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, num_style_feat: int,
                 demodulate: bool = True, upsample: bool = False, eps: float = 1e-8):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.upsample, self.eps = demodulate, upsample, eps
        self.modulation = nn.Linear(num_style_feat, in_channels)
        self.weight = nn.Parameter(
            torch.randn(1, out_channels, in_channels, kernel_size, kernel_size)
            / math.sqrt(in_channels * kernel_size**2)
        )

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, channels, _, _ = x.shape
        if batch > 1 and is_channels_last(x):
            return self._forward_modulating_activations(x, style)
        style = self.modulation(style).float().view(batch, 1, channels, 1, 1)
        weight = self.weight.float() * style  # (B, out, in, k, k), float32: see the module docstring
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + self.eps)
        weight = weight.to(x.dtype).view(batch * self.out_channels, channels, self.kernel_size, self.kernel_size)
        if is_channels_last(x):  # batch 1: keep the output channels-last too
            weight = weight.contiguous(memory_format=torch.channels_last)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        height, width = x.shape[-2:]
        if batch == 1 and self.kernel_size == 1 and is_channels_last(x):
            # ToRGB: a product with the NHWC memory as a (pixels x channels) matrix. oneDNN runs a
            # 3-channel 1x1 convolution in NCHW, converting its whole channels-last input first (0.85 s
            # at 128 x 256 x 256 on one thread, a fifth of a 256 px network's time).
            rgb = x.permute(0, 2, 3, 1).reshape(height * width, channels) @ weight.view(self.out_channels, channels).t()
            return rgb.view(1, height, width, self.out_channels).permute(0, 3, 1, 2)
        out = F.conv2d(x.reshape(1, batch * channels, height, width), weight, padding=self.kernel_size // 2,
                       groups=batch)
        # batch 1: already (1, out, H, W); a view would rewrite the unit batch stride and lose channels-last
        return out if batch == 1 else out.view(batch, self.out_channels, height, width)

    def _forward_modulating_activations(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """The same result with the style applied to the input and the demodulation to the output.

        One ordinary convolution for the whole batch instead of a grouped one over per-sample weights:
        a channels-last batch stays channels-last (the grouped form's ``(1, B*C, H, W)`` reshape copies
        it back to NCHW), which oneDNN runs faster. Numerically equal up to float rounding.
        """
        style = self.modulation(style).float()  # (B, in)
        weight = self.weight[0]
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(x * style.to(x.dtype)[:, :, None, None], weight.to(x.dtype), padding=self.kernel_size // 2)
        if self.demodulate:
            # sum over (in, k, k) of (weight * style)^2, in float32 (see the module docstring)
            squares = style.pow(2) @ weight.float().pow(2).sum(dim=(2, 3)).t()  # (B, out)
            out = out * torch.rsqrt(squares + self.eps).to(x.dtype)[:, :, None, None]
        return out


class StyleConv(nn.Module):
    """Modulated 3x3 convolution + per-pixel noise + bias + leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, *, num_style_feat: int, upsample: bool = False):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(in_channels, out_channels, 3, num_style_feat=num_style_feat,
                                              upsample=upsample)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        out = self.modulated_conv(x, style).mul_(math.sqrt(2))
        out = out.add_(self.weight * noise).add_(self.bias)
        return F.leaky_relu_(out, 0.2)


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to RGB (no demodulation), added to the up-sampled previous RGB."""

    def __init__(self, in_channels: int, *, num_style_feat: int):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(in_channels, 3, 1, num_style_feat=num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style).add_(self.bias)
        if skip is not None:
            out = out.add_(F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False))
        return out


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        # in the weight's memory format, so that a channels-last network is channels-last from its first layer
        layout = torch.channels_last if is_channels_last(self.weight) else torch.contiguous_format
        return self.weight.repeat(batch, 1, 1, 1).contiguous(memory_format=layout)


def noise_size(index: int) -> int:
    """Side of noise map ``index``: 4 for the first StyleConv, then two maps per resolution."""
    return 2 ** ((index + 5) // 2)


class StyleGAN2DecoderClean(nn.Module):
    """The synthesis network, taking W+ codes directly (the mapping MLP is kept only for its weights).

    ``channels[r]`` is the feature width at resolution ``r`` (4, 8, ..., out_size). ``modulate`` in
    :meth:`forward` is called on the features after the first StyleConv of every resolution above 4;
    GFPGAN's spatial feature transform hooks in there.
    """

    def __init__(self, *, out_size: int, num_style_feat: int, num_mlp: int, channels: dict[int, int]):
        super().__init__()
        self.log_size = int(math.log2(out_size))
        self.num_latent = 2 * self.log_size - 2
        self.num_layers = 2 * (self.log_size - 2) + 1
        mlp: list[nn.Module] = [NormStyleCode()]
        for _ in range(num_mlp):
            mlp += [nn.Linear(num_style_feat, num_style_feat), nn.LeakyReLU(0.2)]
        self.style_mlp = nn.Sequential(*mlp)
        self.constant_input = ConstantInput(channels[4])
        self.style_conv1 = StyleConv(channels[4], channels[4], num_style_feat=num_style_feat)
        self.to_rgb1 = ToRGB(channels[4], num_style_feat=num_style_feat)
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channels = channels[4]
        for level in range(3, self.log_size + 1):
            out_channels = channels[2**level]
            self.style_convs.append(StyleConv(in_channels, out_channels, num_style_feat=num_style_feat, upsample=True))
            self.style_convs.append(StyleConv(out_channels, out_channels, num_style_feat=num_style_feat))
            self.to_rgbs.append(ToRGB(out_channels, num_style_feat=num_style_feat))
            in_channels = out_channels
        self.noises = nn.Module()
        for index in range(self.num_layers):
            size = noise_size(index)
            self.noises.register_buffer(f"noise{index}", torch.randn(1, 1, size, size))

    def noise_maps(self, batch: int, generator: torch.Generator | None, random: bool) -> list[torch.Tensor]:
        """The stored noise buffers, or fresh N(0, 1) maps (seeded by ``generator``)."""
        stored = [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]
        if not random:
            return stored
        return [torch.randn((batch, 1, *n.shape[-2:]), generator=generator).to(n) for n in stored]

    def forward(self, latent: torch.Tensor, modulate=None, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``latent``: W+ of shape (B, num_latent, num_style_feat). Returns the RGB image (unclamped)."""
        noise = self.noise_maps(latent.shape[0], None, False) if noise is None else noise
        out = self.style_conv1(self.constant_input(latent.shape[0]), latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        row = 1
        for level, to_rgb in enumerate(self.to_rgbs):
            out = self.style_convs[2 * level](out, latent[:, row], noise[row])
            if modulate is not None:
                out = modulate(level, out)
            out = self.style_convs[2 * level + 1](out, latent[:, row + 1], noise[row + 1])
            skip = to_rgb(out, latent[:, row + 2], skip)
            row += 2
        return skip
