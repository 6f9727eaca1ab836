"""InterLCM's training recipe (``facefix train --method interlcm``).

Only the visual encoder and the spatial encoder learn; CLIP, the LCM UNet and the VAE are frozen, and
the whole 3-step restoration runs with gradients (through every UNet + spatial-encoder call and the
VAE decoder; gradient checkpointing keeps that in memory). Losses, as in the official recipe:

* L1 on the decoded output (unclamped, in [-1, 1]), weight 1;
* LPIPS (VGG, v0.1), weight 1, with the official double normalisation: [-1, 1] -> [0, 1] -> ImageNet
  mean/std -> LPIPS' own input scaling;
* from step ``gan_start`` (the official 10,001) a hinge GAN term ``-D(output)`` with weight 0.1, against
  a PatchGAN discriminator trained from scratch with ``relu(1 - D(real)) + relu(1 + D(fake))``.

Adam at 5e-5 with betas (0.9, 0.99) over both encoders, EMA 0.997, 15,001 steps. The official batch is
one face on each of 8 GPUs: here, by default, 8 accumulated batches of one (the tiny preset: none).
Degradation: InterLCM's data set (the "small" CodeFormer branch): blur sigma 0.1-10, down-sampling
1-12, noise 0-15, JPEG 60-99. The colour fix is not part of training (the official loop applies it only
at inference).

A new spatial encoder starts as ``ControlNetModel.from_unet`` of the SD-1.5 UNet (registry
``interlcm.sd15-unet``); ``--init`` continues from released or exported encoders instead. The tiny
preset builds every part small and random, and keeps the frozen parts in the exported file so that
``facefix restore --weights`` works on it alone.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facefix.backends.base import RestoreOptions
from facefix.backends.interlcm import InterLCMRestorer
from facefix.backends.interlcm.checkpoint import METADATA_KEY, get_variant, official_configs, registry_parts, resolve
from facefix.backends.interlcm.components import TINY_CONFIGS, TRAINABLE_ROLES, InterLCMModels, build, load
from facefix.backends.interlcm.discriminator import PatchDiscriminator
from facefix.backends.interlcm.pipeline import InterLCMPipeline, InterLCMSettings
from facefix.train.config import TrainConfig
from facefix.quality.degradation import DegradationConfig
from facefix.train.recipe import TrainRecipe

#: ffhq_blind_joint_dataset.py's "small degradation" (the one used): JPEG quality randint(60, 100)
INTERLCM_DEGRADATION = DegradationConfig(blur_sigma=(0.1, 10.0), downsample=(1.0, 12.0), noise=(0.0, 15.0),
                                         jpeg_quality=(60, 99), gray_prob=0.0)
SD15_UNET = "interlcm.sd15-unet"
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class InterLCMTrainConfig(TrainConfig):
    lr: float = 5e-5
    betas: tuple[float, float] = (0.9, 0.99)
    batch_size: int = 1
    grad_accumulation: int = 0  # 0: the preset's, 8 for paper (its 8 GPUs x 1 face, on one GPU), 1 for tiny
    max_steps: int = 15_001
    ema_decay: float = 0.997
    variant: str = "3step"  # the schedule trained: 3 network evaluations (1step: one)
    l1_weight: float = 1.0
    lpips_weight: float = 1.0
    gan_weight: float = 0.1
    gan_start: int = 10_001  # steps before the GAN term and the discriminator start
    d_width: int = 64
    d_layers: int = 4
    gradient_checkpointing: bool = True
    pretrained_losses: bool = True  # False: LPIPS on a random VGG (tests, offline smoke runs)

    def resolved(self) -> InterLCMTrainConfig:
        if self.grad_accumulation == 0:
            return dataclasses.replace(self, grad_accumulation=1 if self.preset == "tiny" else 8)
        return self


class LPIPSLoss(nn.Module):
    """LPIPS-VGG between images in [-1, 1], with the official recipe's extra ImageNet normalisation."""

    def __init__(self, *, pretrained: bool, device: torch.device):
        super().__init__()
        from facefix.quality.metrics import LPIPSMetric

        self.model = LPIPSMetric(device, pretrained=pretrained).model.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN, device=device).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD, device=device).view(1, 3, 1, 1))

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        def normalise(x: torch.Tensor) -> torch.Tensor:
            return ((x + 1) / 2 - self.mean) / self.std

        return self.model(normalise(output), normalise(target)).mean()


class InterLCMRecipe(TrainRecipe, name="interlcm", config_class=InterLCMTrainConfig,
                     degradation=INTERLCM_DEGRADATION):

    def __init__(self, config: InterLCMTrainConfig, device: torch.device):
        config = config.resolved()
        super().__init__(config, device)
        self.variant = get_variant(config.variant)
        tiny = config.preset == "tiny"
        models, self.configs = self._build_models(config, tiny)
        for role, module in models.modules().items():
            module.requires_grad_(role in TRAINABLE_ROLES)
            if config.gradient_checkpointing and hasattr(module, "enable_gradient_checkpointing"):
                module.enable_gradient_checkpointing()
        settings = InterLCMSettings(evaluations=self.variant.evaluations, colorfix=False)
        self.pipeline = InterLCMPipeline(models, settings, device=device)
        # what the Trainer trains, averages and checkpoints; a tiny run keeps its random frozen parts in it
        kept = models.modules() if tiny else {role: getattr(models, role) for role in TRAINABLE_ROLES}
        self.network = nn.ModuleDict(kept).train()
        self.lpips = LPIPSLoss(pretrained=config.pretrained_losses, device=device)
        width, layers = (16, 3) if tiny else (config.d_width, config.d_layers)
        self.discriminators = PatchDiscriminator(width=width, layers=layers).to(device).train()

    def _build_models(self, config: InterLCMTrainConfig, tiny: bool) -> tuple[InterLCMModels, dict]:
        """The five parts and their configs: from ``--init``, tiny and random, or the official start."""
        if config.init:
            weights = resolve(config.init, config.variant)
            return InterLCMModels.from_state_dicts(weights.state_dicts, weights.configs), weights.configs
        if tiny:
            return InterLCMModels.from_configs(TINY_CONFIGS["configs"]), TINY_CONFIGS["configs"]
        configs = official_configs()
        frozen, _ = registry_parts(["unet", "vae", "clip_vision"], self.variant)
        parts = {role: load(role, frozen[role], configs[role]) for role in frozen}
        models = InterLCMModels(visual_encoder=build("visual_encoder", configs["visual_encoder"]),
                                spatial_encoder=self._spatial_encoder_from_sd15(configs), **parts)
        return models, configs

    @staticmethod
    def _spatial_encoder_from_sd15(configs: dict) -> nn.Module:
        """The official initialisation: ControlNet copied from the SD-1.5 UNet (zero convs at zero)."""
        from diffusers import ControlNetModel

        from facefix import hub

        sd15_config = {k: v for k, v in configs["unet"].items() if k != "time_cond_proj_dim"}
        unet = load("unet", hub.load_state_dict(hub.fetch(SD15_UNET)), sd15_config)
        return ControlNetModel.from_unet(unet)

    @property
    def generator(self) -> nn.ModuleDict:
        return self.network

    @property
    def discriminator(self) -> nn.Module:
        return self.discriminators

    def param_groups(self) -> list[dict]:
        return [{"params": [p for role in TRAINABLE_ROLES for p in self.network[role].parameters()],
                 "lr": self.config.lr, "name": "encoders"}]

    def discriminator_param_groups(self) -> list[dict]:
        return [{"params": list(self.discriminators.parameters()), "lr": self.config.lr, "name": "discriminator"}]

    def _gan_on(self, step: int) -> bool:
        return step >= self.config.gan_start

    def generator_loss(self, batch, step):
        c = self.config
        lq, gt = batch["lq"] * 2 - 1, batch["gt"] * 2 - 1
        output = self.pipeline.run(lq, lambda shape: torch.randn((self.variant.evaluations, lq.shape[0], *shape),
                                                                 device=self.device))
        batch["output"] = output.detach()
        parts = {"l1": F.l1_loss(output, gt) * c.l1_weight, "lpips": self.lpips(output, gt) * c.lpips_weight}
        if self._gan_on(step):
            parts["gan"] = -self.discriminators(output).mean() * c.gan_weight
        total = sum(parts.values())
        return total, {"total": total.item(), **{k: v.item() for k, v in parts.items()}}

    def discriminators_train(self, step: int) -> bool:
        return self._gan_on(step)

    def discriminator_loss(self, batch, step):
        real, fake = batch["gt"] * 2 - 1, batch["output"]
        loss = F.relu(1 - self.discriminators(real)).mean() + F.relu(1 + self.discriminators(fake)).mean()
        return loss, {"d_hinge": loss.item()}

    def export(self, generator: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        settings = {"variant": self.variant.name, "face_size": self.config.size,
                    "configs": {role: self.configs[role] for role in generator if role != "visual_encoder"}}
        return generator.state_dict(), {"facefix_method": self.name, METADATA_KEY: json.dumps(settings)}

    def validation_restorer(self, generator: nn.Module):
        """The backend with ``generator``'s encoders and this run's frozen parts (no file round trip)."""
        parts = {role: generator[role] if role in generator else getattr(self.pipeline.models, role)
                 for role in self.pipeline.models.modules()}
        restorer = InterLCMRestorer(InterLCMModels(**parts), variant=self.variant.name, face_size=self.config.size,
                                    device=self.device, dtype=torch.float32, options=RestoreOptions(seed=0))
        return restorer.restore


__all__ = ["INTERLCM_DEGRADATION", "InterLCMRecipe", "InterLCMTrainConfig", "LPIPSLoss", "PatchDiscriminator"]
