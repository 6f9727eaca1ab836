"""The fusion paper's training recipe.

Losses (the paper's Eq. on the total objective): VGG-19 perceptual (L1 on conv1_2..conv5_2 before
activation) + ArcFace identity L1 + multi-resolution FFT loss, weighted 1 : 10 : 1; Adam at 2e-3,
batch 8. Starting from GFPGAN v1.4 the practical default is to freeze the backbone and train only the
fusion blocks (``train_backbone = False``); training from scratch trains everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from facefix.backends.fusion import FusionRestorer
from facefix.backends.fusion.checkpoint import load_fusion_network
from facefix.backends.fusion.network import FusionConfig, FusionGFPGAN
from facefix.train.config import TrainConfig
from facefix.quality.degradation import GFPGAN_DEGRADATION
from facefix.quality.losses import IdentityLoss, VGGPerceptualLoss, fft_loss
from facefix.train.recipe import TrainRecipe

#: a tiny architecture for CPU smoke runs (64 px, narrow channels)
TINY = FusionRestorer.tiny_config


@dataclass
class FusionTrainConfig(TrainConfig):
    perceptual_weight: float = 1.0
    identity_weight: float = 10.0
    fft_weight: float = 1.0
    train_backbone: bool = False
    pretrained_losses: bool = True  # False: random-weight VGG/ArcFace (tests, offline smoke runs)


class FusionRecipe(TrainRecipe, name="fusion", config_class=FusionTrainConfig, degradation=GFPGAN_DEGRADATION,
                   restorer_class=FusionRestorer):

    def __init__(self, config: FusionTrainConfig, device: torch.device):
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
        self.perceptual = VGGPerceptualLoss(pretrained=config.pretrained_losses).to(device)
        self.identity = IdentityLoss(pretrained=config.pretrained_losses).to(device)

    @property
    def generator(self) -> FusionGFPGAN:
        return self.network

    def param_groups(self) -> list[dict]:
        return [{"params": [p for p in self.network.parameters() if p.requires_grad], "lr": self.config.lr}]

    def generator_loss(self, batch, step):
        output = self.network(batch["lq"] * 2 - 1).image
        output = (output.clamp(-1, 1) + 1) / 2
        target = batch["gt"]
        parts = {
            "perceptual": self.perceptual(output, target) * self.config.perceptual_weight,
            "identity": self.identity(output, target) * self.config.identity_weight,
            "fft": fft_loss(output, target) * self.config.fft_weight,
        }
        total = sum(parts.values())
        return total, {"total": total.item(), **{k: v.item() for k, v in parts.items()}}
