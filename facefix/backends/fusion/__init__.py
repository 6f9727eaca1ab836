"""The ``fusion`` backend: GFPGAN v1.4 weights plus feature-fusion blocks, with a fidelity knob."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from facefix.backends.base import NetworkRestorer, RestoreOptions
from facefix.backends.fusion.checkpoint import infer_config, load_fusion_network
from facefix.backends.fusion.network import FusionConfig, FusionGFPGAN

__all__ = ["FusionConfig", "FusionGFPGAN", "FusionRestorer", "infer_config", "load_fusion_network"]


class FusionRestorer(NetworkRestorer):
    """Restores aligned faces with :class:`FusionGFPGAN`.

    Deterministic by default: StyleGAN's noise comes from the stored buffers (official GFPGAN draws
    fresh noise on every call). ``random_noise`` draws it instead, repeatably with ``seed``.
    ``fidelity`` (default 1 = GFPGAN) blends the SFT-modulated half of the channels with its
    unmodulated version: lower values trust the face prior more than the input.
    """

    name = "fusion"
    supported_options = frozenset({"fidelity", "seed", "random_noise"})
    tiny_config = {"out_size": 64, "num_style_feat": 64, "channel_multiplier": 1, "narrow": 0.125, "num_mlp": 2}
    channels_last_on_cpu = True  # 0.85x the NCHW time at 512 px on 2 threads (mmrb's network: 1.04x, so not there)
    fp16_safe = bf16_safe = True  # demodulation sums in fp32 (tests/test_precision_quality.py)
    precision_probe_config = {"out_size": 128}  # at 64 px the gain read 1.31-2.15x between runs, 512 px 1.91x

    load_network = staticmethod(load_fusion_network)

    @staticmethod
    def build_network(config: Mapping | None) -> FusionGFPGAN:
        return FusionGFPGAN(FusionConfig.from_gfpgan(**config) if config else FusionConfig())

    def __init__(self, network: FusionGFPGAN, *, device: torch.device, dtype: torch.dtype, options: RestoreOptions):
        super().__init__(network, device=device, dtype=dtype, options=options)
        self.generator = torch.Generator().manual_seed(options.seed) if options.seed is not None else None

    def restore(self, faces: torch.Tensor) -> torch.Tensor:
        fidelity = 1.0 if self.options.fidelity is None else float(self.options.fidelity)
        x = self._network_input(faces) * 2 - 1
        noise = self.network.stylegan_decoder.noise_maps(x.shape[0], self.generator, self.options.random_noise)
        with torch.inference_mode():
            image = self.network(x, fidelity=fidelity, noise=noise).image
        return ((image.float().clamp(-1, 1) + 1) / 2).to(faces.device)
