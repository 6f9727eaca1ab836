"""The frozen CLIP ViT-B/16 image tower that feeds the visual encoder.

InterLCM keeps *all* tokens after ``ln_post`` and no projection: (B, 197, 768). transformers'
``CLIPVisionModel`` gives exactly that as ``post_layernorm(last_hidden_state)``, so we use it, with:

* the OpenAI -> Hugging Face key map (:func:`openai_to_hf`) for weights in OpenAI's layout (fused
  ``in_proj`` rows q | k | v, ``visual.`` prefix);
* InterLCM's preprocessing (:func:`clip_pixels`): [-1, 1] -> [0, 1], bicubic resize **without
  antialias** (what the pinned torchvision 0.14 did to tensors; the released weights were trained so),
  then CLIP's mean/std.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from facefix.errors import CheckpointError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

#: OpenAI names -> Hugging Face names (transformers 5.x, no ``vision_model.`` prefix) outside the blocks
_OPENAI_TOP = {
    "conv1.weight": "embeddings.patch_embedding.weight",
    "class_embedding": "embeddings.class_embedding",
    "positional_embedding": "embeddings.position_embedding.weight",
    "ln_pre.weight": "pre_layrnorm.weight",
    "ln_pre.bias": "pre_layrnorm.bias",
    "ln_post.weight": "post_layernorm.weight",
    "ln_post.bias": "post_layernorm.bias",
}
#: inside ``transformer.resblocks.<i>.`` -> inside ``encoder.layers.<i>.`` (in_proj is split separately)
_OPENAI_BLOCK = {
    "attn.out_proj.weight": "self_attn.out_proj.weight",
    "attn.out_proj.bias": "self_attn.out_proj.bias",
    "ln_1.weight": "layer_norm1.weight",
    "ln_1.bias": "layer_norm1.bias",
    "ln_2.weight": "layer_norm2.weight",
    "ln_2.bias": "layer_norm2.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight",
    "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight",
    "mlp.c_proj.bias": "mlp.fc2.bias",
}
#: OpenAI tensors InterLCM never uses (the image projection, and the text tower of a full CLIP file)
_OPENAI_UNUSED = ("proj",)


def is_openai_layout(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return any(key.removeprefix("visual.") == "conv1.weight" for key in state_dict)


def openai_to_hf(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An OpenAI CLIP visual tower (``visual.*`` of ViT-B-16.pt, or the bare tower) in
    ``CLIPVisionModel`` names; the fused attention ``in_proj`` is split into q, k, v by rows."""
    has_prefix = any(key.startswith("visual.") for key in state_dict)
    visual = {key.removeprefix("visual."): value for key, value in state_dict.items()
              if key.startswith("visual.") or not has_prefix}
    converted: dict[str, torch.Tensor] = {}
    for key, value in visual.items():
        if key in _OPENAI_TOP:
            converted[_OPENAI_TOP[key]] = value
        elif m := re.match(r"transformer\.resblocks\.(\d+)\.(.+)$", key):
            layer, name = f"encoder.layers.{m.group(1)}.", m.group(2)
            if name in ("attn.in_proj_weight", "attn.in_proj_bias"):
                kind = name.rsplit("_", 1)[1]
                for proj, part in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0), strict=True):
                    converted[f"{layer}self_attn.{proj}.{kind}"] = part.clone()
            elif name in _OPENAI_BLOCK:
                converted[layer + _OPENAI_BLOCK[name]] = value
            else:
                raise CheckpointError(f"unknown OpenAI CLIP tensor {key!r}")
        elif key not in _OPENAI_UNUSED:
            raise CheckpointError(f"unknown OpenAI CLIP tensor {key!r}")
    return converted


def hf_vision_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The vision tower of a CLIP checkpoint in transformers 5.x ``CLIPVisionModel`` names.

    Accepts a full ``CLIPModel`` file (``vision_model.*`` next to ``text_model.*``: only the vision part
    is kept), a transformers 4.x vision model, a 5.x one, or OpenAI's layout.
    """
    if is_openai_layout(state_dict):
        return openai_to_hf(state_dict)
    has_prefix = any(key.startswith("vision_model.") for key in state_dict)
    vision = {key.removeprefix("vision_model."): value for key, value in state_dict.items()
              if key.startswith("vision_model.") or not has_prefix}
    # position_ids was a persistent buffer in old transformers releases; it is recomputed now
    return {key: value for key, value in vision.items() if not key.endswith("position_ids")}


def build_clip_vision(config: Mapping) -> nn.Module:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    known = {k: v for k, v in config.items() if not k.startswith("_")}
    return CLIPVisionModel(CLIPVisionConfig(**known))


def _tower(model: nn.Module) -> nn.Module:
    # transformers 5.x flattened CLIPVisionModel; 4.x keeps the transformer under .vision_model
    return getattr(model, "vision_model", model)


def load_clip_vision(state_dict: Mapping[str, torch.Tensor], config: Mapping) -> nn.Module:
    """A ``CLIPVisionModel`` of ``config`` holding ``state_dict`` (any layout above), loaded strictly."""
    model = build_clip_vision(config)
    weights = hf_vision_state_dict(state_dict)
    tower = _tower(model)
    try:
        tower.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"CLIP vision weights do not fit: {str(exc).splitlines()[-1].strip()}") from None
    return model.eval()


def clip_pixels(lq: torch.Tensor, size: int) -> torch.Tensor:
    """InterLCM's CLIP input for faces ``lq`` in [-1, 1]: bicubic to ``size`` without antialias, normalised."""
    x = F.interpolate((lq + 1) / 2, size=(size, size), mode="bicubic", align_corners=False, antialias=False)
    mean = torch.tensor(CLIP_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def clip_tokens(model: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """All tokens after the final LayerNorm, no projection: (B, 1 + patches, width)."""
    hidden = model(pixel_values=pixels).last_hidden_state
    return _tower(model).post_layernorm(hidden)
