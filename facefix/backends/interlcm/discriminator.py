"""The PatchGAN discriminator InterLCM trains with (CodeFormer's VQGAN discriminator layout).

Strided 4x4 convolutions with BatchNorm and LeakyReLU(0.2): ``layers`` halvings, one stride-1 block,
and a one-channel logit map (30 x 30 for a 512 px face with 4 layers). Parameter names (``main.<i>``)
match CodeFormer's ``VQGANDiscriminator``. It is trained from scratch (no released weights).
"""

from __future__ import annotations

from torch import nn


class PatchDiscriminator(nn.Module):
    def __init__(self, channels: int = 3, width: int = 64, layers: int = 4):
        super().__init__()
        modules: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        multiplier = 1
        for n in range(1, layers + 1):
            previous, multiplier = multiplier, min(2**n, 8)
            stride = 2 if n < layers else 1  # the last block keeps the resolution
            modules += [nn.Conv2d(width * previous, width * multiplier, 4, stride, 1, bias=False),
                        nn.BatchNorm2d(width * multiplier), nn.LeakyReLU(0.2, True)]
        modules.append(nn.Conv2d(width * multiplier, 1, 4, 1, 1))
        self.main = nn.Sequential(*modules)
        self.apply(_init_weights)

    def forward(self, image):
        """``image`` RGB in [-1, 1] -> patch logits (B, 1, h, w)."""
        return self.main(image)


def _init_weights(module: nn.Module) -> None:
    # DCGAN's initialisation, as the VQGAN discriminator uses
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
