"""Losses used by the recipes: VGG-19 perceptual, multi-resolution frequency (FFT), ArcFace identity.

Loss networks load their weights through the hub (``metrics.vgg19``, ``metrics.arcface-ir-se50``);
``pretrained=False`` builds them with random weights, for tests and smoke runs that must not download.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Index of every convolution in torchvision's vgg19().features (each is followed by its ReLU).
VGG19_LAYERS = {"conv1_1": 0, "conv1_2": 2, "conv2_1": 5, "conv2_2": 7, "conv3_1": 10, "conv3_2": 12,
                "conv3_3": 14, "conv3_4": 16, "conv4_1": 19, "conv4_2": 21, "conv4_3": 23, "conv4_4": 25,
                "conv5_1": 28, "conv5_2": 30, "conv5_3": 32, "conv5_4": 34}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGPerceptualLoss(nn.Module):
    """Distance between VGG-19 features (pre-activation) of output and target, summed over layers.

    ``layer_weights`` maps layer names of :data:`VGG19_LAYERS` to weights. ``distance="l1"`` is the
    perceptual loss; ``"l2"`` (mean squared) is the feature-matching loss of the mmrb paper (its Eq. 14).
    """

    def __init__(self, layer_weights: dict[str, float], *, pretrained: bool = True, distance: str = "l1"):
        super().__init__()
        unknown = sorted(set(layer_weights) - set(VGG19_LAYERS))
        if unknown:
            raise ValueError(f"unknown VGG-19 layer(s) {', '.join(unknown)} (known: {', '.join(VGG19_LAYERS)})")
        self.distance = {"l1": F.l1_loss, "l2": F.mse_loss}[distance]
        from torchvision.models import vgg19

        with torch.device("meta"):  # no time spent initialising the classifier's 120M weights
            features = vgg19().features
        features = features[: max(VGG19_LAYERS[name] for name in layer_weights) + 1].to_empty(device="cpu")
        if not pretrained:
            for layer in features:
                if isinstance(layer, nn.Conv2d):  # torchvision's own initialisation
                    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(layer.bias)
        else:
            from facefix import hub

            state = hub.load_state_dict(hub.fetch("metrics.vgg19"))
            features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                                      if k.startswith("features.") and int(k.split(".")[1]) < len(features)})
        for layer in features:
            # torchvision's ReLUs work in place: they would overwrite the pre-activation maps tapped before them
            if isinstance(layer, nn.ReLU):
                layer.inplace = False
        self.layer_weights = dict(layer_weights)
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self._tap_names = {VGG19_LAYERS[name]: name for name in self.layer_weights}

    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The tapped layers' outputs (before their ReLU) for RGB ``x`` in [0, 1], by layer name."""
        x = (x - self.mean) / self.std
        taps = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._tap_names:
                taps[self._tap_names[index]] = x
        return taps

    def distance_between(self, output_maps: dict[str, torch.Tensor],
                         target_maps: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted loss from already computed :meth:`feature_maps` (targets are not differentiated)."""
        return sum(weight * self.distance(output_maps[name], target_maps[name].detach())
                   for name, weight in self.layer_weights.items())

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``output``, ``target``: RGB in [0, 1]."""
        return self.distance_between(self.feature_maps(output), self.feature_maps(target))


def spectrum_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the 2-D spectra (real and imaginary parts) of two maps."""
    spectrum_a = torch.view_as_real(torch.fft.rfft2(a.float(), norm="ortho"))
    spectrum_b = torch.view_as_real(torch.fft.rfft2(b.float(), norm="ortho"))
    return F.l1_loss(spectrum_a, spectrum_b)


def mrfr_loss(output_maps: list[torch.Tensor], target_maps: list[torch.Tensor]) -> torch.Tensor:
    """The fusion paper's multi-resolution frequency reconstruction loss (its Eq. 8).

    ``sum_j (1 / t_j) * || FFT(D^_j) - FFT(D_j) ||_1`` over feature maps ``D_j`` of several resolutions,
    where ``t_j`` is the number of elements of level ``j``: each level's mean spectral difference, summed
    (not averaged) over the levels.
    """
    return sum(spectrum_l1(a, b.detach()) for a, b in zip(output_maps, target_maps, strict=True))


def fft_loss(output: torch.Tensor, target: torch.Tensor, scales: tuple[float, ...] = (1.0, 0.5, 0.25)) -> torch.Tensor:
    """Image-space multi-resolution FFT loss: spectral L1 of the images at several scales, averaged."""
    total = output.new_zeros(())
    for scale in scales:
        a, b = output, target
        if scale != 1.0:
            a = F.interpolate(a, scale_factor=scale, mode="bilinear", align_corners=False, antialias=True)
            b = F.interpolate(b, scale_factor=scale, mode="bilinear", align_corners=False, antialias=True)
        total = total + spectrum_l1(a, b)
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
