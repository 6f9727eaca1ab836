"""The ``ddpm`` backend: diffusion face inpainting.

Two kinds of weights, one interface (:class:`DDPMInpainter`):

* a *conditional* model (the seed paper's FFC U-Net trained with ``facefix train --method ddpm``, or
  Palette's CelebA-HQ file): the masked face is an input; sampled by :class:`PaletteSampler`, respaced to
  ``--steps`` noise levels (default 250) of Palette's sampling schedule;
* the default, Google's *unconditional* CelebA-HQ DDPM (``ddpm.celebahq-256``, diffusers layout), which
  knows nothing of the mask and fills it with RePaint's resampling (diffusers' ``RePaintScheduler``:
  ``--steps`` inference steps, default 250, with jumps of 10 resampled 10 times: about 2,400 network
  evaluations, so a GPU is needed for interactive use).

Either way the result equals the input exactly outside the mask.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch

from facefix.backends.base import Inpainter, RestoreOptions, counted_steps
from facefix.backends.ddpm.checkpoint import is_diffusers_unet, is_palette, load_diffusers_unet, load_unet
from facefix.backends.ddpm.schedule import PALETTE_TEST_SCHEDULE, PaletteSampler
from facefix.backends.ddpm.unet import DiffusionUNet, UNetConfig
from facefix.errors import CheckpointError

__all__ = ["DDPMInpainter", "DiffusionUNet", "PaletteSampler", "UNetConfig"]

DEFAULT_STEPS = 250


class DDPMInpainter(Inpainter):
    name = "ddpm"
    supported_options = frozenset({"seed", "steps"})
    tiny_config = {"inner_channel": 32, "channel_mults": [1, 2], "res_blocks": 1, "num_head_channels": 16,
                   "attn_res": [], "ffc": True, "size": 64}
    fp16_safe = True  # GroupNorm and the noise-level sinusoid in fp32 (tests/test_precision_quality.py)
    # not bf16_safe: bf16's 8 significant bits move the sampler's path in the hole (42 grey levels at the 99.9th
    # percentile on the golden config), so --precision auto keeps ddpm out of bf16

    def __init__(self, network: torch.nn.Module, *, conditional: bool, face_size: int, device: torch.device,
                 dtype: torch.dtype, options: RestoreOptions):
        # diffusers warns on any dtype cast, even a no-op one
        self.network = (network.to(device) if dtype == torch.float32 else network.to(device=device, dtype=dtype)).eval()
        self.conditional, self.face_size, self.device, self.dtype = conditional, face_size, device, dtype
        self.options = options
        self.evaluations = 0  # network calls made by the last inpaint(), for benchmarks and tests

    @classmethod
    def load(cls, weights: str | Path | None = None, *, device: torch.device | str = "cpu",
             dtype: torch.dtype = torch.float32, options: RestoreOptions | None = None) -> DDPMInpainter:
        from facefix import hub

        checkpoint, path = hub.resolve_weights(weights, group="ddpm")
        state_dict = hub.load_state_dict(path, wrapper=checkpoint.wrapper if checkpoint else None)
        trained = json.loads(hub.read_metadata(path).get("config", "{}")) if Path(path).suffix == ".safetensors" else {}
        config = dict(checkpoint.config) if checkpoint else {}
        return cls.from_state_dict(state_dict, config={**config, **trained}, device=torch.device(device), dtype=dtype,
                                   options=options or RestoreOptions())

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], *, config: Mapping, device: torch.device,
                        dtype: torch.dtype, options: RestoreOptions) -> DDPMInpainter:
        if is_diffusers_unet(state_dict):
            unet_config = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items()}
            network = load_diffusers_unet(state_dict, unet_config)
            return cls(network, conditional=False, face_size=int(config.get("sample_size", 256)), device=device,
                       dtype=dtype, options=options)
        if is_palette(state_dict):
            network = load_unet(state_dict, num_head_channels=int(config.get("num_head_channels", 32)))
            return cls(network, conditional=True, face_size=int(config.get("size", 256)), device=device,
                       dtype=dtype, options=options)
        raise CheckpointError("not a diffusion inpainting checkpoint "
                              "(neither Palette/facefix U-Net nor diffusers UNet2DModel)")

    @classmethod
    def from_config(cls, config: Mapping | None = None, *, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32, options: RestoreOptions | None = None) -> DDPMInpainter:
        """A conditional model (the seed paper's U-Net) of ``config``: :class:`UNetConfig` fields and ``size``."""
        config = dict(config or {})
        size = int(config.pop("size", 256))
        unet_config = UNetConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items()})
        return cls(DiffusionUNet(unet_config), conditional=True, face_size=size, device=torch.device(device),
                   dtype=dtype, options=options or RestoreOptions())

    def weights_file(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        if not self.conditional:
            raise NotImplementedError("the unconditional (diffusers) model is read from its registry folder only")
        weights, _ = super().weights_file()
        settings = {"num_head_channels": self.network.config.num_head_channels, "size": self.face_size}
        return weights, {"config": json.dumps(settings)}

    def _generator(self) -> torch.Generator:
        seed = self.options.seed if self.options.seed is not None else torch.seed()
        return torch.Generator().manual_seed(seed)

    def _denoise(self, x: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
        self.evaluations += 1
        if self.conditional:
            return self.network(x.to(self.dtype), conditioning.to(self.dtype)).float()
        return self.network(x.to(self.dtype), conditioning).sample.float()

    @torch.no_grad()
    def inpaint(self, faces: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        known = (faces.to(self.device, torch.float32) * 2 - 1)
        mask = (masks.to(self.device, torch.float32) > 0.5).float()
        self.evaluations = 0
        steps = self.options.steps or DEFAULT_STEPS
        if self.conditional:
            sampler = PaletteSampler(PALETTE_TEST_SCHEDULE, steps)
            filled = sampler.sample(self._denoise, known, mask, generator=self._generator(),
                                    on_step=counted_steps(self.on_step, "inpainting", sampler.num_steps))
        else:
            filled = self._repaint(known, mask, steps)
        out = (filled.clamp(-1, 1) + 1) / 2
        return (faces * (1 - masks.to(faces)) + out.to(faces) * masks.to(faces)).clamp(0, 1)

    def _repaint(self, known: torch.Tensor, mask: torch.Tensor, steps: int) -> torch.Tensor:
        from diffusers import RePaintScheduler

        scheduler = RePaintScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02,
                                     beta_schedule="linear", clip_sample=True)
        scheduler.set_timesteps(steps, jump_length=10, jump_n_sample=10, device=known.device)
        generator = self._generator()
        keep = 1 - mask  # diffusers' RePaint: 1 = keep, 0 = fill
        image = torch.randn(known.shape, generator=generator).to(known)
        previous = int(scheduler.timesteps[0]) + 1
        step = counted_steps(self.on_step, "inpainting (RePaint)", len(scheduler.timesteps))
        for t in scheduler.timesteps:
            if int(t) < previous:
                noise_pred = self._denoise(image, t)
                image = scheduler.step(noise_pred, t, image, known, keep, generator).prev_sample
            else:
                image = scheduler.undo_step(image, previous, generator)
            previous = int(t)
            step()
        return image
