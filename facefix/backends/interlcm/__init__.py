"""The ``interlcm`` backend: InterLCM (ICLR 2025), low-quality faces as intermediate LCM states.

What one restoration computes (``lq``: the aligned face in [-1, 1]; see :mod:`.pipeline`)::

    c  = VE(LN_post(CLIP_ViT-B/16(bicubic_noAA((lq + 1) / 2))))   # (B, 77, 768): replaces the text prompt
    z0 = 0.18215 * VAE.encode(lq).mean                            # the LCM's prediction "after step 1"
    for t in 759, 499, 259 (3-step; 499 for the 1-step models):
        z  = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps_i             # re-noise to t
        z0 = x0(UNet(z, t, w = 8.0, ctx = c, + SpatialEncoder(z, t, ctx = c, cond = lq)))
    out = wavelet_fix(VAE.decode(z0 / 0.18215), lq)

Variants (``--variant``, :data:`~.checkpoint.VARIANTS`): ``3step`` (default), ``1step``,
``colorization`` and ``inpainting`` (no colour fix; the inpainting model expects holes painted white,
which :class:`InterLCMInpainter` does).

**Weights** (``--weights``, see :mod:`.checkpoint`): nothing (the registry: the variant's two encoders,
LCM Dreamshaper v7's UNet and VAE, CLIP ViT-B/16); an encoder's registry id; a **folder** with
``visual_encoder*`` and ``spatial_encoder*`` files (the released ``.pth`` files as downloaded; optional
``unet*``, ``vae*``, ``clip*`` and ``interlcm.json``); or a **bundle** file with part-prefixed keys, as
``facefix train export`` writes it. InterLCM's encoders are CC BY-NC 4.0 (non-commercial).

**Noise** is drawn per face from ``--seed`` (default 0) and the face's pixels, on the CPU: the output is
repeatable, and independent of batching and device (the official code draws unseeded noise).

**Precision and speed**: fp16/bf16 run the UNet, the spatial encoder, CLIP and the visual encoder in
that precision (the VAE stays fp32 under fp16, where it overflows); attention is PyTorch's SDPA (the
diffusers default); no VAE tiling (faces are 512 px). On the CPU a face takes minutes, and a progress
bar counts the network evaluations.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from facefix.backends.base import Inpainter, Restorer, RestoreOptions, counted_steps
from facefix.backends.interlcm.checkpoint import (DEFAULT_FACE_SIZE, DEFAULT_VARIANT, METADATA_KEY, VARIANTS,
                                                  InterLCMWeights, get_variant, official_configs, resolve,
                                                  split_bundle)
from facefix.backends.interlcm.components import TINY_CONFIGS, InterLCMModels
from facefix.backends.interlcm.pipeline import InterLCMPipeline, InterLCMSettings
from facefix.backends.interlcm.sampler import face_seeds, seeded_noise

__all__ = ["VARIANTS", "InterLCMInpainter", "InterLCMModels", "InterLCMPipeline", "InterLCMRestorer",
           "InterLCMSettings"]

logger = logging.getLogger(__name__)
DEFAULT_SEED = 0
_cpu_notice_shown = False


class InterLCMRestorer(Restorer):
    """Restores aligned faces with InterLCM (see the module docstring)."""

    name = "interlcm"
    supported_options = frozenset({"seed", "steps", "variant"})
    tiny_config = TINY_CONFIGS
    fp16_safe = bf16_safe = True  # the VAE stays fp32 under fp16 (tests/test_precision_quality.py)

    def __init__(self, models: InterLCMModels, *, variant: str = DEFAULT_VARIANT, face_size: int = DEFAULT_FACE_SIZE,
                 device: torch.device, dtype: torch.dtype, options: RestoreOptions, configs: Mapping | None = None):
        super().__init__(face_size=face_size, device=device, dtype=dtype, options=options)
        self.configs = dict(configs) if configs is not None else None  # of the parts, for weights_file()
        self.variant = get_variant(variant)
        # --steps overrides the variant's number of network evaluations (the weights were trained for theirs)
        settings = InterLCMSettings(evaluations=options.steps or self.variant.evaluations,
                                    colorfix=self.variant.colorfix)
        self.pipeline = InterLCMPipeline(models, settings, device=device, dtype=dtype)
        self.seed = DEFAULT_SEED if options.seed is None else int(options.seed)

    @classmethod
    def from_weights(cls, weights: InterLCMWeights, *, device: torch.device, dtype: torch.dtype,
                     options: RestoreOptions) -> InterLCMRestorer:
        models = InterLCMModels.from_state_dicts(weights.state_dicts, weights.configs)
        return cls(models, variant=weights.variant.name, face_size=weights.face_size, device=device, dtype=dtype,
                   options=options, configs=weights.configs)

    @classmethod
    def load(cls, weights: str | Path | None = None, *, device: torch.device | str = "cpu",
             dtype: torch.dtype = torch.float32, options: RestoreOptions | None = None) -> InterLCMRestorer:
        options = options or RestoreOptions()
        return cls.from_weights(resolve(weights, options.variant), device=torch.device(device), dtype=dtype,
                                options=options)

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], *, config: Mapping | None,
                        device: torch.device, dtype: torch.dtype, options: RestoreOptions) -> InterLCMRestorer:
        """``state_dict``: a bundle (part-prefixed keys, all five parts); ``config``: optional
        ``{"variant", "face_size", "configs": {part: config}}`` (official configs otherwise)."""
        config = dict(config or {})
        variant = get_variant(options.variant or config.get("variant") or DEFAULT_VARIANT)
        weights = InterLCMWeights(state_dicts=split_bundle(state_dict),
                                  configs={**official_configs(), **config.get("configs", {})}, variant=variant,
                                  face_size=int(config.get("face_size", DEFAULT_FACE_SIZE)))
        return cls.from_weights(weights, device=device, dtype=dtype, options=options)

    @classmethod
    def from_config(cls, config: Mapping | None = None, *, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32, options: RestoreOptions | None = None) -> InterLCMRestorer:
        """Random weights of the official architecture (or of ``config``, shaped as in :meth:`from_state_dict`)."""
        config = dict(config or {})
        options = options or RestoreOptions()
        configs = {**official_configs(), **config.get("configs", {})}
        return cls(InterLCMModels.from_configs(configs),
                   variant=options.variant or config.get("variant", DEFAULT_VARIANT),
                   face_size=int(config.get("face_size", DEFAULT_FACE_SIZE)), device=torch.device(device),
                   dtype=dtype, options=options, configs=configs)

    def weights_file(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """All five parts in one bundle with their settings, as ``facefix train export`` writes it."""
        if self.configs is None:
            raise NotImplementedError("these InterLCM parts were built without their configs")
        models = self.pipeline.models.modules()
        bundle = {f"{role}.{key}": value.detach().cpu()
                  for role, module in models.items() for key, value in module.state_dict().items()}
        settings = {"variant": self.variant.name, "face_size": self.face_size,
                    "configs": {role: self.configs[role] for role in models if role in self.configs}}
        return bundle, {METADATA_KEY: json.dumps(settings)}

    def _announce_cpu(self) -> None:
        global _cpu_notice_shown
        if self.device.type == "cpu" and not _cpu_notice_shown:
            _cpu_notice_shown = True
            logger.warning("InterLCM runs on the CPU: expect minutes per face (a GPU takes under a second)")

    def restore(self, faces: torch.Tensor) -> torch.Tensor:
        self._announce_cpu()
        evaluations = self.pipeline.settings.evaluations
        seeds = face_seeds(faces, self.seed)

        def noise(latent_shape: tuple[int, ...]) -> torch.Tensor:
            return seeded_noise(seeds, evaluations, latent_shape)

        lq = faces.to(self.device, torch.float32) * 2 - 1
        with torch.inference_mode():
            output = self.pipeline.run(lq, noise, on_step=counted_steps(self.on_step, f"InterLCM {self.variant.name}",
                                                                        evaluations))
        return ((output.clamp(-1, 1) + 1) / 2).to(faces.device)


class InterLCMInpainter(Inpainter):
    """Fills masked regions with the released inpainting model: holes are painted white (that model's
    input convention; it has no mask channel), the face is restored, and only the holes are taken."""

    name = "interlcm"
    supported_options = frozenset({"seed", "steps", "variant"})
    fp16_safe = bf16_safe = True  # the VAE stays fp32 under fp16 (tests/test_precision_quality.py)

    tiny_config = {**TINY_CONFIGS, "variant": "inpainting"}

    def __init__(self, restorer: InterLCMRestorer):
        self.restorer = restorer
        self.face_size, self.device = restorer.face_size, restorer.device

    @classmethod
    def from_config(cls, config: Mapping | None = None, *, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32, options: RestoreOptions | None = None) -> InterLCMInpainter:
        return cls(InterLCMRestorer.from_config(config, device=device, dtype=dtype, options=options))

    def weights_file(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        return self.restorer.weights_file()

    @classmethod
    def load(cls, weights: str | Path | None = None, *, device: torch.device | str = "cpu",
             dtype: torch.dtype = torch.float32, options: RestoreOptions | None = None) -> InterLCMInpainter:
        options = options or RestoreOptions()
        if weights is None and options.variant is None:
            options = dataclasses.replace(options, variant="inpainting")
        return cls(InterLCMRestorer.load(weights, device=device, dtype=dtype, options=options))

    def inpaint(self, faces: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        hole = masks.to(faces.device) > 0.5
        self.restorer.on_step = self.on_step
        filled = self.restorer.restore(torch.where(hole, torch.ones_like(faces), faces))
        return torch.where(hole, filled.to(faces), faces)
