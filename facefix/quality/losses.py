"""Losses used by the recipes: VGG-19 perceptual, multi-resolution FFT, ArcFace identity.

Loss networks load their weights through the hub (``metrics.vgg19``, ``metrics.arcface-ir-se50``);
``pretrained=False`` builds them with random weights, for tests and smoke runs that must not download.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Indices of conv1_2, conv2_2, conv3_4, conv4_4, conv5_2 in torchvision's vgg19().features; the loss
# reads their outputs before the ReLU that follows, as the paper says.
VGG19_LAYERS = {"conv1_2": 2, "conv2_2": 7, "conv3_4": 16, "conv4_4": 25, "conv5_2": 30}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGPerceptualLoss(nn.Module):
    """Distance between VGG-19 features (pre-activation) of output and target, summed over layers.

    ``distance="l1"`` is the perceptual loss; ``"l2"`` (mean squared) is the feature-matching loss of the
    mmrb paper (its Eq. 14).
    """

    def __init__(self, *, pretrained: bool = True, layer_weights: dict[str, float] | None = None,
                 distance: str = "l1"):
        super().__init__()
        self.distance = {"l1": F.l1_loss, "l2": F.mse_loss}[distance]
        from torchvision.models import vgg19

        features = vgg19().features
        if pretrained:
            from facefix import hub

            state = hub.load_state_dict(hub.fetch("metrics.vgg19"))
            features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                                      if k.startswith("features.")})
        self.layer_weights = layer_weights or dict.fromkeys(VGG19_LAYERS, 1.0)
        last = max(VGG19_LAYERS[name] for name in self.layer_weights)
        self.features = features[: last + 1].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self._taps = {VGG19_LAYERS[name]: weight for name, weight in self.layer_weights.items()}

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._taps:
                taps.append(x)
        return taps

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``output``, ``target``: RGB in [0, 1]."""
        weights = [self._taps[i] for i in sorted(self._taps)]
        return sum(w * self.distance(a, b) for w, a, b in zip(weights, self._features(output), self._features(target)))


def fft_loss(output: torch.Tensor, target: torch.Tensor, scales: tuple[float, ...] = (1.0, 0.5, 0.25)) -> torch.Tensor:
    """Multi-resolution FFT loss: L1 between the 2-D spectra (real and imaginary parts) at several scales."""
    total = output.new_zeros(())
    for scale in scales:
        a, b = output, target
        if scale != 1.0:
            a = F.interpolate(a, scale_factor=scale, mode="bilinear", align_corners=False, antialias=True)
            b = F.interpolate(b, scale_factor=scale, mode="bilinear", align_corners=False, antialias=True)
        spectrum_a = torch.view_as_real(torch.fft.rfft2(a.float(), norm="ortho"))
        spectrum_b = torch.view_as_real(torch.fft.rfft2(b.float(), norm="ortho"))
        total = total + F.l1_loss(spectrum_a, spectrum_b)
    return total / len(scales)


class IdentityLoss(nn.Module):
    """L1 between ArcFace IR-SE50 embeddings of output and target (FFHQ-aligned RGB faces in [0, 1])."""

    def __init__(self, *, pretrained: bool = True):
        super().__init__()
        from facexlib.recognition.arcface_arch import Backbone

        self.network = Backbone(num_layers=50, drop_ratio=0.6, mode="ir_se")
        if pretrained:
            from facefix import hub

            self.network.load_state_dict(hub.load_state_dict(hub.fetch("metrics.arcface-ir-se50")))
        self.network.eval().requires_grad_(False)

    def embed(self, faces: torch.Tensor) -> torch.Tensor:
        # ArcFace sees the central 112 px of an FFHQ-aligned face, in [-1, 1].
        size = faces.shape[-1]
        crop = faces[..., size * 35 // 256: size * 223 // 256, size * 32 // 256: size * 220 // 256]
        crop = F.interpolate(crop, size=(112, 112), mode="bilinear", align_corners=False)
        return F.normalize(self.network(crop * 2 - 1), dim=1)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(self.embed(output), self.embed(target).detach())
