"""One InterLCM restoration, stage by stage (the formulas are in the package docstring).

The stages are separate methods so that tests can compare each with the reference run, and
:meth:`InterLCMPipeline.run` chains them: 1. prompt from CLIP tokens, 2. LQ latent, 3. LCM sampling
with the spatial encoder, 4. decode, 5. colour fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from facefix.backends.interlcm.clip import clip_pixels, clip_tokens
from facefix.backends.interlcm.colorfix import wavelet_color_fix
from facefix.backends.interlcm.components import InterLCMModels
from facefix.backends.interlcm.sampler import LCMSchedule, guidance_embedding, sample


@dataclass(frozen=True)
class InterLCMSettings:
    """What distinguishes the released variants: network evaluations, and whether colours are fixed."""

    evaluations: int = 3
    colorfix: bool = True
    guidance_scale: float = 8.0


def _model_dtype(role: str, dtype: torch.dtype, device: torch.device) -> torch.dtype:
    # the SD VAE overflows in fp16 (its config says force_upcast): it stays in fp32 then
    if role == "vae" and dtype == torch.float16:
        return torch.float32
    # the official code runs CLIP in fp16 on CUDA (clip.load keeps the released fp16 weights): so do we
    if role == "clip_vision" and dtype == torch.float32 and device.type == "cuda":
        return torch.float16
    return dtype


class InterLCMPipeline:
    """Runs the five networks of :class:`InterLCMModels` on faces in [-1, 1]."""

    def __init__(self, models: InterLCMModels, settings: InterLCMSettings, *, device: torch.device,
                 dtype: torch.dtype = torch.float32, scheduler_config=None):
        def place(role: str, module: torch.nn.Module) -> torch.nn.Module:
            target = _model_dtype(role, dtype, device)
            # plain nn.Module.to: diffusers' override warns about every cast, even where nothing must stay fp32
            return torch.nn.Module.to(module, device=device, dtype=target)

        models.apply(place)
        self.models, self.settings, self.device, self.dtype = models, settings, device, dtype
        self.schedule = LCMSchedule.for_evaluations(settings.evaluations, scheduler_config)
        self.clip_size = int(models.clip_vision.config.image_size)
        self.latent_scale = float(models.vae.config.scaling_factor)

    # 1. the prompt: CLIP tokens through the visual encoder
    def prompt(self, lq: torch.Tensor, trace: dict | None = None) -> torch.Tensor:
        pixels = clip_pixels(lq, self.clip_size)
        tokens = clip_tokens(self.models.clip_vision, pixels.to(self.models.clip_vision.dtype)).float()
        embedding = self.models.visual_encoder(tokens.to(self.dtype))
        if trace is not None:
            trace.update(clip_input=pixels, clip_tokens=tokens, visual_embedding=embedding.float())
        return embedding

    # 2. the LQ latent: the VAE posterior's mean, scaled
    def encode(self, lq: torch.Tensor) -> torch.Tensor:
        vae = self.models.vae
        return vae.encode(lq.to(vae.dtype)).latent_dist.mean.float() * self.latent_scale

    # 3. the denoiser of one LCM step: spatial-encoder residuals into the w-conditioned UNet
    def denoiser(self, lq: torch.Tensor, prompt: torch.Tensor, trace: dict | None = None):
        unet, spatial_encoder = self.models.unet, self.models.spatial_encoder
        w = guidance_embedding(self.settings.guidance_scale, unet.config.time_cond_proj_dim, lq.shape[0])
        w = w.to(self.device, self.dtype)
        condition = lq.to(self.dtype)  # the spatial encoder sees the LQ face in [-1, 1], not [0, 1]
        if trace is not None:
            trace.update(w_embedding=w.float(), controlnet_down=[], controlnet_mid=[])

        def denoise(z: torch.Tensor, t: int) -> torch.Tensor:
            z = z.to(self.dtype)
            down, mid = spatial_encoder(z, t, encoder_hidden_states=prompt, controlnet_cond=condition,
                                        return_dict=False)
            if trace is not None:
                trace["controlnet_down"].append([r.float() for r in down])
                trace["controlnet_mid"].append(mid.float())
            return unet(z, t, timestep_cond=w, encoder_hidden_states=prompt, down_block_additional_residuals=down,
                        mid_block_additional_residual=mid).sample

        return denoise

    # 4. decode (unclamped)
    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        vae = self.models.vae
        return vae.decode((x0 / self.latent_scale).to(vae.dtype)).sample.float()

    def run(self, lq: torch.Tensor, noise: torch.Tensor | Callable[[tuple[int, ...]], torch.Tensor], *,
            trace: dict | None = None, on_step: Callable[[], None] | None = None) -> torch.Tensor:
        """Restored faces in [-1, 1] (unclamped) for ``lq`` (B, 3, S, S) in [-1, 1].

        ``noise`` is ``(evaluations, B, C, h, w)``, or a function of the latent's shape giving it.
        """
        lq = lq.to(self.device, torch.float32)
        prompt = self.prompt(lq, trace)
        z_lq = self.encode(lq)
        if callable(noise):
            noise = noise(tuple(z_lq.shape[1:]))
        x0 = sample(z_lq, self.schedule, self.denoiser(lq, prompt, trace), noise.to(self.device), trace=trace,
                    on_step=on_step)
        decoded = self.decode(x0)
        # 5. colour fix against the LQ input, before any clamping
        output = wavelet_color_fix(decoded, lq) if self.settings.colorfix else decoded
        if trace is not None:
            trace.update(z_lq=z_lq, decoded=decoded, colorfixed=output)
        return output
