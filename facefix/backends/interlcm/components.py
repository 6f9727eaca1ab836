"""The five networks of InterLCM, built from configs and loaded strictly.

* ``visual_encoder`` - ours (:mod:`.visual_encoder`), trainable;
* ``spatial_encoder`` - diffusers ``ControlNetModel`` with the SD-1.5 UNet's encoder layout (no
  w-embedding input: ``from_unet`` of the LCM UNet would fail on its ``cond_proj``), trainable;
* ``unet`` - diffusers ``UNet2DConditionModel`` of LCM Dreamshaper v7 (``time_cond_proj_dim`` for the
  w-embedding), frozen;
* ``vae`` - diffusers ``AutoencoderKL`` (SD VAE, scaling factor 0.18215), frozen;
* ``clip_vision`` - transformers ``CLIPVisionModel`` ViT-B/16 (:mod:`.clip`), frozen.

Configs are plain mappings (diffusers / transformers constructor arguments). The official ones are the
``[checkpoint.config]`` tables of ``weights/interlcm.toml``; a tiny test passes its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

import torch
from torch import nn

from facefix.backends.interlcm.clip import build_clip_vision, load_clip_vision
from facefix.backends.interlcm.visual_encoder import VisualEncoder, VisualEncoderConfig, load_visual_encoder
from facefix.errors import CheckpointError

ROLES = ("visual_encoder", "spatial_encoder", "unet", "vae", "clip_vision")
TRAINABLE_ROLES = ("visual_encoder", "spatial_encoder")
#: registry ids of the frozen models (the encoders' ids depend on the variant: see checkpoint.py)
FROZEN_CHECKPOINTS = {"unet": "interlcm.lcm-dreamshaper-v7-unet", "vae": "interlcm.lcm-dreamshaper-v7-vae",
                      "clip_vision": "interlcm.clip-vit-b16"}

_TINY_UNET = {"sample_size": 8, "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
              "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"], "block_out_channels": [24, 48],
              "layers_per_block": 1, "norm_num_groups": 8, "cross_attention_dim": 48, "attention_head_dim": 8}
#: a tiny architecture (64 px faces, 8x8 latents, 17 CLIP tokens of width 48) for tests and CPU smoke runs
TINY_CONFIGS = {
    "face_size": 64,
    "configs": {
        "visual_encoder": {"in_tokens": 17, "out_tokens": 77, "level_channels": [32, 32, 64], "res_blocks": 1,
                           "attn_channels": [64]},
        "spatial_encoder": {k: v for k, v in _TINY_UNET.items() if k not in ("sample_size", "up_block_types")},
        "unet": {**_TINY_UNET, "time_cond_proj_dim": 32},
        "vae": {"down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
                "block_out_channels": [16, 16, 32, 32], "layers_per_block": 1, "norm_num_groups": 8,
                "sample_size": 64, "scaling_factor": 0.18215},
        "clip_vision": {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 1, "num_attention_heads": 4,
                        "image_size": 28, "patch_size": 7, "hidden_act": "quick_gelu", "projection_dim": 32},
    },
}


def _arguments(config: Mapping) -> dict:
    """Constructor arguments: drop ``_class_name``-style metadata, lists stay lists (diffusers accepts them)."""
    return {key: value for key, value in config.items() if not key.startswith("_")}


def _diffusers_class(role: str):
    import diffusers

    return {"spatial_encoder": diffusers.ControlNetModel, "unet": diffusers.UNet2DConditionModel,
            "vae": diffusers.AutoencoderKL}[role]


def build(role: str, config: Mapping) -> nn.Module:
    """A network of ``role`` with random weights."""
    if role == "visual_encoder":
        if "nf" in config:
            return VisualEncoder(VisualEncoderConfig.from_official(**config))
        return VisualEncoder(VisualEncoderConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                    for k, v in config.items()}))
    if role == "clip_vision":
        return build_clip_vision(config)
    return _diffusers_class(role)(**_arguments(config))


def _load_diffusers(role: str, config: Mapping, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Build on the meta device (no random init of ~1 B parameters) and take the tensors as they are."""
    def make() -> nn.Module:
        return _diffusers_class(role)(**_arguments(config))

    with torch.device("meta"):
        network = make()
    _load_strict(network, state_dict, role, assign=True)
    if any(t.is_meta for t in itertools.chain(network.parameters(), network.buffers())):
        # a non-persistent buffer is not in the state dict: build for real
        network = make()
        _load_strict(network, state_dict, role, assign=False)
    return network.eval()


def _load_strict(network: nn.Module, state_dict: Mapping[str, torch.Tensor], role: str, *, assign: bool) -> None:
    try:
        network.load_state_dict(dict(state_dict), strict=True, assign=assign)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise CheckpointError(f"{role.replace('_', ' ')} weights do not fit its config: {detail[:300]}") from None


def load(role: str, state_dict: Mapping[str, torch.Tensor], config: Mapping | None) -> nn.Module:
    """A network of ``role`` holding ``state_dict`` (the visual encoder reads its architecture from it)."""
    if role == "visual_encoder":
        return load_visual_encoder(state_dict)
    if config is None:
        raise CheckpointError(f"no architecture config for the InterLCM {role.replace('_', ' ')}")
    if role == "clip_vision":
        return load_clip_vision(state_dict, config)
    return _load_diffusers(role, config, state_dict)


@dataclass
class InterLCMModels:
    """The networks one restoration needs, in their roles."""

    visual_encoder: VisualEncoder
    spatial_encoder: nn.Module
    unet: nn.Module
    vae: nn.Module
    clip_vision: nn.Module

    @classmethod
    def from_state_dicts(cls, state_dicts: Mapping[str, Mapping[str, torch.Tensor]],
                         configs: Mapping[str, Mapping]) -> InterLCMModels:
        missing = [role for role in ROLES if role not in state_dicts]
        if missing:
            raise CheckpointError(f"InterLCM weights lack the {', '.join(missing)} part(s)")
        return cls(**{role: load(role, state_dicts[role], configs.get(role)) for role in ROLES})

    @classmethod
    def from_configs(cls, configs: Mapping[str, Mapping]) -> InterLCMModels:
        return cls(**{role: build(role, configs[role]).eval() for role in ROLES})

    def modules(self) -> dict[str, nn.Module]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def apply(self, fn: Callable[[str, nn.Module], nn.Module]) -> None:
        for role, module in self.modules().items():
            setattr(self, role, fn(role, module))
