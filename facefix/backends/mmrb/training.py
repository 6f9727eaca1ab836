"""The mmrb paper's training recipe (Sec. 3.3-4.2).

Joint fine-tuning of the codec and the StyleGAN2 prior with per-part learning rates (codec 2e-3,
prior 2e-4, noise branches 2e-3), against GPEN's pretrained global discriminator with FreezeD (see
:mod:`facefix.backends.mmrb.discriminator` for the reading of "first five layers") and three local
discriminators (left eye, right eye, mouth; local D 2e-3, global D 2e-5). Generator loss, with the
paper's weights: global adversarial 0.5, local adversarial 3, L1 8, VGG feature matching 0.02,
ArcFace face-preserving 10; plus the per-scale L1 of the decoder's RGB heads (weight 1). Adversarial
terms are the non-saturating logistic loss; the global discriminator gets GPEN's lazy R1 penalty.
Degradation: the paper's Eq. 17 (``MMRB_DEGRADATION``). Schedule: 700k iterations at batch 4 with a
piece-wise decay. The local discriminators' crops follow each training face's 68 landmarks (dlib's
predictor, as the paper's "68 key points"), found once per face and cached (``local_d_crops``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facefix.backends.mmrb import MMRBRestorer
from facefix.backends.mmrb.checkpoint import load_mmrb_network
from facefix.backends.mmrb.discriminator import (FREEZE_D_CONVS, GPENDiscriminator, LocalDiscriminator,
                                                 freeze_convs, load_discriminator, local_crop_size)
from facefix.backends.mmrb.network import MMRBConfig, MMRBNet
from facefix.errors import FacefixError
from facefix.face.align import ffhq_template
from facefix.face.components import COMPONENTS, crop_components
from facefix.train.config import TrainConfig
from facefix.quality.degradation import MMRB_DEGRADATION
from facefix.quality.losses import IdentityLoss, VGGPerceptualLoss
from facefix.train.recipe import TrainRecipe

#: a tiny architecture for CPU smoke runs (GPEN's layout at 64 px with narrow channels)
TINY = {"size": 64, "style_dim": 32, "n_mlp": 2, "channel_multiplier": 1, "narrow": 0.0625}


LOCAL_D_CROPS = ("landmarks", "template")


@dataclass
class MMRBTrainConfig(TrainConfig):
    max_steps: int = 700_000
    batch_size: int = 4
    # "a piece-wise attenuation strategy" (Sec. 4.2) with no milestones or factor given: ours halve every
    # learning rate at 4/7 and 6/7 of the run (GFPGAN's pattern: two halvings, the last 100k steps before the end)
    lr_schedule: str = "piecewise"
    lr_milestones: tuple[int, ...] = (400_000, 600_000)
    lr_factor: float = 0.5
    lr: float = 2e-3            # codec: encoder, MMRBs, decoder
    prior_lr: float = 2e-4      # StyleGAN2 prior (mapping MLP and synthesis)
    noise_lr: float = 2e-3      # the prior's noise-branch weights
    global_d_lr: float = 2e-5
    local_d_lr: float = 2e-3
    adv_global_weight: float = 0.5
    adv_local_weight: float = 3.0
    l1_weight: float = 8.0
    feature_matching_weight: float = 0.02
    # Eq. 14 sums over "the i-th convolution layers" of VGG without naming them: one tap per scale
    feature_matching_layers: tuple[str, ...] = ("conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_2")
    identity_weight: float = 10.0
    pyramid_weight: float = 1.0
    freeze_d_convs: int = FREEZE_D_CONVS  # FreezeD: the global D's first five convolutions (stem + two blocks)
    local_d_crops: str = "landmarks"  # eye/mouth boxes from each face's 68 landmarks, or "template" (FFHQ's)
    r1_weight: float = 10.0
    r1_every: int = 16
    local_d_channels: int = 64
    d_init: str | None = None   # the global D: registry id or file; default GPEN-BFR-512-D for 512 px
    pretrained_losses: bool = True

    def resolved(self) -> MMRBTrainConfig:
        if self.local_d_crops not in LOCAL_D_CROPS:
            raise FacefixError(f"local_d_crops {self.local_d_crops!r}: expected one of {', '.join(LOCAL_D_CROPS)}")
        return self

    def needs_landmarks(self) -> bool:
        return self.local_d_crops == "landmarks"


class MMRBRecipe(TrainRecipe, name="mmrb", config_class=MMRBTrainConfig, degradation=MMRB_DEGRADATION,
                 restorer_class=MMRBRestorer):

    def __init__(self, config: MMRBTrainConfig, device: torch.device):
        config = config.resolved()
        super().__init__(config, device)
        tiny = config.preset == "tiny"
        self.network = self._build_generator(config, tiny).to(device).train()
        global_d = self._build_discriminator(config, tiny)
        self.frozen_d = freeze_convs(global_d, config.freeze_d_convs)
        width = max(8, config.local_d_channels // (8 if tiny else 1))
        self.discriminators = nn.ModuleDict({"global": global_d, **{name: LocalDiscriminator(width)
                                                                    for name in COMPONENTS}}).to(device).train()
        self.crop_size = local_crop_size(config.size)
        template = torch.from_numpy(ffhq_template(config.size)).to(device)
        self.template_landmarks = template[None]
        self.feature_matching = VGGPerceptualLoss(dict.fromkeys(config.feature_matching_layers, 1.0),
                                                  pretrained=config.pretrained_losses, distance="l2").to(device)
        self.identity = IdentityLoss(pretrained=config.pretrained_losses).to(device)

    @staticmethod
    def _build_generator(config: MMRBTrainConfig, tiny: bool) -> MMRBNet:
        init = config.init or (None if tiny or config.size != 512 else "mmrb.gpen-bfr-512")
        if init and init != "scratch":
            from facefix import hub

            _, path = hub.resolve_weights(init, group="mmrb")
            return load_mmrb_network(hub.load_state_dict(path))
        return MMRBNet(MMRBConfig.from_gpen(**{**TINY, "size": config.size}) if tiny
                       else MMRBConfig.from_gpen(size=config.size))

    @staticmethod
    def _build_discriminator(config: MMRBTrainConfig, tiny: bool) -> GPENDiscriminator:
        d_init = config.d_init or (None if tiny or config.size != 512 else "mmrb.gpen-bfr-512-d")
        if d_init and d_init != "scratch":
            from facefix import hub

            _, path = hub.resolve_weights(d_init, group="mmrb")
            return load_discriminator(hub.load_state_dict(path, wrapper="d"))
        if tiny:
            return GPENDiscriminator(config.size, channel_multiplier=1, narrow=TINY["narrow"])
        return GPENDiscriminator(config.size)

    @property
    def generator(self) -> MMRBNet:
        return self.network

    @property
    def discriminator(self) -> nn.ModuleDict:
        return self.discriminators

    def param_groups(self) -> list[dict]:
        groups: dict[str, list[nn.Parameter]] = {"codec": [], "prior": [], "noise": []}
        for name, parameter in self.network.named_parameters():
            if not name.startswith("generator."):
                groups["codec"].append(parameter)
            elif name.endswith(".noise.weight"):
                groups["noise"].append(parameter)
            else:
                groups["prior"].append(parameter)
        c = self.config
        return [{"params": groups["codec"], "lr": c.lr, "name": "codec"},
                {"params": groups["prior"], "lr": c.prior_lr, "name": "prior"},
                {"params": groups["noise"], "lr": c.noise_lr, "name": "noise"}]

    def discriminator_param_groups(self) -> list[dict]:
        trainable = [p for p in self.discriminators["global"].parameters() if p.requires_grad]
        local = [p for name in COMPONENTS for p in self.discriminators[name].parameters()]
        return [{"params": trainable, "lr": self.config.global_d_lr, "name": "global_d"},
                {"params": local, "lr": self.config.local_d_lr, "name": "local_d"}]

    def _landmarks(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-face landmarks if the data set has them (``local_d_crops = "landmarks"``: ``facefix train``
        detects them once per face, the template standing in where detection fails); otherwise the template
        (faces are aligned to it)."""
        if "landmarks" in batch and self.config.local_d_crops == "landmarks":
            return batch["landmarks"]
        return self.template_landmarks.expand(batch["gt"].shape[0], -1, -1)

    def generator_loss(self, batch, step):
        c = self.config
        out = self.network(batch["lq"] * 2 - 1, return_pyramid=True)
        fake, real = out.image, batch["gt"] * 2 - 1
        batch["output"] = fake.detach()
        fake01 = (fake.clamp(-1, 1) + 1) / 2
        crops = crop_components(fake, self._landmarks(batch), self.crop_size)
        pyramid = sum(F.l1_loss(rgb, F.interpolate(real, size=rgb.shape[-2:], mode="area")) for rgb in out.pyramid)
        parts = {
            "adv_global": F.softplus(-self.discriminators["global"](fake)).mean() * c.adv_global_weight,
            "adv_local": sum(F.softplus(-self.discriminators[name](crops[name])).mean() for name in COMPONENTS)
            * c.adv_local_weight,
            "l1": F.l1_loss(fake, real) * c.l1_weight,
            "feature_matching": self.feature_matching(fake01, batch["gt"]) * c.feature_matching_weight,
            "identity": self.identity(fake01, batch["gt"]) * c.identity_weight,
            "pyramid": pyramid / len(out.pyramid) * c.pyramid_weight,
        }
        total = sum(parts.values())
        return total, {"total": total.item(), **{k: v.item() for k, v in parts.items()}}

    def discriminator_loss(self, batch, step):
        fake, real = batch["output"], batch["gt"] * 2 - 1
        landmarks = self._landmarks(batch)
        fake_crops = crop_components(fake, landmarks, self.crop_size)
        real_crops = crop_components(real, landmarks, self.crop_size)

        def logistic(d: nn.Module, real_x: torch.Tensor, fake_x: torch.Tensor) -> torch.Tensor:
            return F.softplus(-d(real_x)).mean() + F.softplus(d(fake_x)).mean()

        parts = {"d_global": logistic(self.discriminators["global"], real, fake),
                 "d_local": sum(logistic(self.discriminators[n], real_crops[n], fake_crops[n]) for n in COMPONENTS)}
        if self.config.r1_every > 0 and step % self.config.r1_every == 0:
            parts["d_r1"] = self._r1_penalty(real) * self.config.r1_weight / 2 * self.config.r1_every
        total = sum(parts.values())
        return total, {k: v.item() for k, v in parts.items()}

    def _r1_penalty(self, real: torch.Tensor) -> torch.Tensor:
        real = real.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(self.discriminators["global"](real).sum(), real, create_graph=True)
        return grad.pow(2).flatten(1).sum(1).mean()
