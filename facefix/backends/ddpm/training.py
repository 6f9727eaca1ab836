"""The ddpm paper's training recipe (Sec. 3.2).

A conditional denoiser (the FFC U-Net) learns to predict the noise added to the hole of a face, given
the masked face: forward process of 2000 steps with betas rising linearly from 1e-6 to 1e-2; a training
sample draws a step ``t``, a continuous noise level between ``gamma_t`` and ``gamma_{t-1}`` (as Palette),
and a mask - half of the time the centre mask (25 % of the image), otherwise a random mask covering
20-30 %; the loss is the MSE between true and predicted noise inside the mask (Palette's form: the
mean over all pixels of the masked difference). Augmentations: random crop (90-100 % of the side),
horizontal flip (in the data set) and colour jitter. Adam 5e-5 with cosine decay, EMA 0.9999.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facefix.backends.ddpm.schedule import TRAIN_SCHEDULE
from facefix.backends.ddpm.unet import DiffusionUNet, UNetConfig
from facefix.face.masks import center_mask, random_mask
from facefix.train.config import TrainConfig
from facefix.train.recipe import TrainRecipe

#: a tiny architecture for CPU smoke runs
TINY = {"inner_channel": 32, "channel_mults": (1, 2), "res_blocks": 1, "num_head_channels": 16}


@dataclass
class DDPMTrainConfig(TrainConfig):
    size: int = 256
    batch_size: int = 4
    lr: float = 5e-5
    lr_schedule: str = "cosine"
    ema_decay: float = 0.9999
    inner_channel: int = 64
    channel_mults: tuple[int, int, int, int] = (1, 2, 4, 8)
    res_blocks: int = 2
    num_head_channels: int = 32
    dropout: float = 0.2
    ffc: bool = True
    center_mask_prob: float = 0.5
    random_mask_area: tuple[float, float] = (0.2, 0.3)
    color_jitter: float = 0.1

    def resolved(self) -> DDPMTrainConfig:
        # the tiny architecture is written into the config, so exported files describe themselves
        return dataclasses.replace(self, **TINY, dropout=0.0) if self.preset == "tiny" else self


class DDPMRecipe(TrainRecipe, name="ddpm", config_class=DDPMTrainConfig,
                 degradation=None):  # the recipe makes its own inputs (masks and noise)

    def __init__(self, config: DDPMTrainConfig, device: torch.device):
        config = config.resolved()
        super().__init__(config, device)
        if config.init:
            from facefix import hub
            from facefix.backends.ddpm.checkpoint import load_unet

            _, path = hub.resolve_weights(config.init, group="ddpm")
            network = load_unet(hub.load_state_dict(path), num_head_channels=config.num_head_channels)
        else:
            network = DiffusionUNet(UNetConfig(
                inner_channel=config.inner_channel, channel_mults=tuple(config.channel_mults),
                res_blocks=config.res_blocks, attn_res=(), num_head_channels=config.num_head_channels,
                dropout=config.dropout, ffc=config.ffc))
        self.network = network.to(device).train()
        self.gammas = TRAIN_SCHEDULE.gammas().float().to(device)

    @property
    def generator(self) -> DiffusionUNet:
        return self.network

    def param_groups(self) -> list[dict]:
        return [{"params": list(self.network.parameters()), "lr": self.config.lr}]

    def export(self, generator: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        # the face size and the attention head width are not in the tensors; DDPMInpainter.load reads them here
        config = {"size": self.config.size, "num_head_channels": self.config.num_head_channels}
        return generator.state_dict(), {"facefix_method": self.name, "config": json.dumps(config)}

    def _masks(self, batch: int, size: int) -> torch.Tensor:
        """Centre or random masks, drawn from a seed taken from torch's RNG (so resume is exact)."""
        seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        rng = np.random.default_rng(seed)
        masks = [center_mask(size, size) if rng.random() < self.config.center_mask_prob
                 else random_mask(rng, size, size, self.config.random_mask_area) for _ in range(batch)]
        return torch.from_numpy(np.stack(masks).astype(np.float32))[:, None].to(self.device)

    def _augment(self, faces: torch.Tensor) -> torch.Tensor:
        """Random crop (90-100 % of the side, resized back) and colour jitter, per batch."""
        size = faces.shape[-1]
        side = int(size * float(torch.empty(1).uniform_(0.9, 1.0)))
        top, left = (int(torch.randint(0, size - side + 1, (1,))) for _ in range(2))
        faces = F.interpolate(faces[..., top: top + side, left: left + side], size=(size, size), mode="bilinear",
                              align_corners=False, antialias=True)
        jitter = self.config.color_jitter
        brightness = 1 + torch.empty(faces.shape[0], 1, 1, 1, device=faces.device).uniform_(-jitter, jitter)
        contrast = 1 + torch.empty(faces.shape[0], 1, 1, 1, device=faces.device).uniform_(-jitter, jitter)
        mean = faces.mean(dim=(1, 2, 3), keepdim=True)
        return (((faces * brightness) - mean) * contrast + mean).clamp(0, 1)

    def generator_loss(self, batch, step):
        clean = self._augment(batch["gt"]) * 2 - 1
        size, count = clean.shape[-1], clean.shape[0]
        mask = self._masks(count, size)
        t = torch.randint(1, len(self.gammas), (count,), device=self.device)
        low, high = self.gammas[t], self.gammas[t - 1]
        gamma = (low + (high - low) * torch.rand(count, device=self.device)).view(-1, 1, 1, 1)
        noise = torch.randn_like(clean)
        noisy = gamma.sqrt() * clean + (1 - gamma).sqrt() * noise
        condition = clean * (1 - mask) + mask * torch.randn_like(clean)
        x = torch.cat([condition, noisy * mask + (1 - mask) * clean], dim=1)
        predicted = self.network(x, gamma.view(-1))
        loss = F.mse_loss(mask * noise, mask * predicted)
        return loss, {"total": loss.item(), "masked_mse": loss.item()}
