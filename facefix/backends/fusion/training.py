"""The fusion paper's training recipe.

Losses (the paper's Eq. 9): VGG-19 perceptual (Eq. 6: L1 on conv1_2, conv2_2, conv3_2, conv4_2 and
conv5_2, before activation) + ArcFace identity L1 (Eq. 7) + multi-resolution frequency reconstruction
(MRFR, Eq. 8), weighted 1 : 10 : 1; Adam at 2e-3, batch 8, 500k iterations.

MRFR compares the spectra of multi-resolution feature maps with per-level weights ``1 / t_j``. The paper
does not name the network that extracts them; facefix reads them as the perceptual taps themselves (five
resolutions, from the full size down to 1/16, of a fixed network, so the loss cannot be lowered by
changing the extractor), with ``t_j`` the element count of level ``j``: the levels' mean spectral
differences are summed. ``frequency_loss = "images"`` is the former image-space variant (the images'
spectra at three scales, averaged).

Training from scratch trains every parameter. Starting from GFPGAN v1.4 (``--init``) the default is to
keep the pretrained backbone and train only the fusion blocks, which start as an exact identity
(``train_backbone = true`` trains everything).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from facefix.backends.fusion import FusionRestorer
from facefix.backends.fusion.checkpoint import load_fusion_network
from facefix.backends.fusion.network import FusionConfig, FusionGFPGAN
from facefix.errors import FacefixError
from facefix.quality.degradation import GFPGAN_DEGRADATION
from facefix.quality.losses import IdentityLoss, VGGPerceptualLoss, fft_loss, mrfr_loss
from facefix.train.config import TrainConfig
from facefix.train.recipe import TrainRecipe

#: a tiny architecture for CPU smoke runs (64 px, narrow channels)
TINY = FusionRestorer.tiny_config
#: the perceptual loss's VGG-19 layers (the paper's Eq. 6), read before their activation
PAPER_PERCEPTUAL_LAYERS = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
FREQUENCY_LOSSES = ("features", "images")


@dataclass
class FusionTrainConfig(TrainConfig):
    perceptual_layers: tuple[str, ...] = PAPER_PERCEPTUAL_LAYERS
    frequency_loss: str = "features"  # "features": MRFR on the perceptual taps (the paper); "images": image spectra
    perceptual_weight: float = 1.0
    identity_weight: float = 10.0
    fft_weight: float = 1.0
    train_backbone: bool | None = None  # None: true from scratch, false with --init (fusion blocks only)
    pretrained_losses: bool = True  # False: random-weight VGG/ArcFace (tests, offline smoke runs)

    def resolved(self) -> FusionTrainConfig:
        if self.frequency_loss not in FREQUENCY_LOSSES:
            raise FacefixError(f"frequency_loss {self.frequency_loss!r}: expected one of {', '.join(FREQUENCY_LOSSES)}")
        if self.train_backbone is None:
            return dataclasses.replace(self, train_backbone=not self.init)
        return self


class FusionRecipe(TrainRecipe, name="fusion", config_class=FusionTrainConfig, degradation=GFPGAN_DEGRADATION,
                   restorer_class=FusionRestorer):

    def __init__(self, config: FusionTrainConfig, device: torch.device):
        config = config.resolved()
        super().__init__(config, device)
        if config.init:
            from facefix import hub

            _, path = hub.resolve_weights(config.init, group="fusion")
            network = load_fusion_network(hub.load_state_dict(path, wrapper="params_ema"))
        elif config.preset == "tiny":
            network = FusionGFPGAN(FusionConfig.from_gfpgan(**{**TINY, "out_size": config.size}))
        else:
            network = FusionGFPGAN(FusionConfig.from_gfpgan(out_size=config.size))
        self.network = network.to(device).train()
        for name, parameter in self.network.named_parameters():
            parameter.requires_grad_(config.train_backbone or name.startswith("fusion_blocks."))
        self.perceptual = VGGPerceptualLoss(dict.fromkeys(config.perceptual_layers, 1.0),
                                            pretrained=config.pretrained_losses).to(device)
        self.identity = IdentityLoss(pretrained=config.pretrained_losses).to(device)

    @property
    def generator(self) -> FusionGFPGAN:
        return self.network

    def param_groups(self) -> list[dict]:
        return [{"params": [p for p in self.network.parameters() if p.requires_grad], "lr": self.config.lr}]

    def generator_loss(self, batch, step):
        c = self.config
        output = self.network(batch["lq"] * 2 - 1).image
        output = (output.clamp(-1, 1) + 1) / 2
        target = batch["gt"]
        output_maps, target_maps = self.perceptual.feature_maps(output), self.perceptual.feature_maps(target)
        if c.frequency_loss == "features":
            frequency = mrfr_loss([output_maps[n] for n in c.perceptual_layers],
                                  [target_maps[n] for n in c.perceptual_layers])
        else:
            frequency = fft_loss(output, target)
        parts = {
            "perceptual": self.perceptual.distance_between(output_maps, target_maps) * c.perceptual_weight,
            "identity": self.identity(output, target) * c.identity_weight,
            "fft": frequency * c.fft_weight,
        }
        total = sum(parts.values())
        return total, {"total": total.item(), **{k: v.item() for k, v in parts.items()}}
