"""Where InterLCM's five state dicts come from: the registry, a folder, or one bundle file.

``--weights`` may be:

* nothing: the variant's two encoders and the three frozen models, all from the registry;
* an encoder's registry id (``interlcm.visual-encoder-1step``, ``interlcm.spatial-encoder-1step``, ...):
  that variant;
* a **folder** holding files whose names start with the part they are: ``visual_encoder*``,
  ``spatial_encoder*`` (so the released ``visual_encoder_3step.pth`` / ``spatial_encoder_3step.pth``
  work as downloaded), and optionally ``unet*``, ``vae*``, ``clip*``, plus an optional
  ``interlcm.json`` (``{"variant": ..., "face_size": ..., "configs": {part: config}}``);
* a **bundle** file (safetensors or .pth) whose keys are prefixed with the part
  (``visual_encoder.blocks.0.weight``, ``spatial_encoder.conv_in.weight``, ...); a safetensors bundle
  may carry the same JSON in its ``interlcm`` metadata. ``facefix train export`` writes these (the
  trained encoders, plus the frozen models of a tiny run, with the JSON).

Parts a folder or bundle lacks come from the registry. Architecture configs not given are the official
ones (the registry's ``[checkpoint.config]`` tables); the visual encoder's is read from its tensors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from facefix import hub
from facefix.backends.interlcm.components import FROZEN_CHECKPOINTS, ROLES
from facefix.errors import CheckpointError
from facefix.registry import Checkpoint, get_checkpoint, is_checkpoint_id

logger = logging.getLogger(__name__)
#: the face size the released models were trained at
DEFAULT_FACE_SIZE = 512
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
#: file-name prefix of each part in a weights folder
FILE_PREFIXES = {"visual_encoder": "visual_encoder", "spatial_encoder": "spatial_encoder", "unet": "unet",
                 "vae": "vae", "clip_vision": "clip"}
METADATA_KEY = "interlcm"
SETTINGS_FILE = "interlcm.json"


@dataclass(frozen=True)
class Variant:
    """A released InterLCM model: its registry tag, network evaluations, and whether colours are fixed."""

    name: str
    tag: str
    evaluations: int
    colorfix: bool

    def checkpoint_id(self, role: str) -> str:
        return f"interlcm.{role.replace('_', '-')}-{self.tag}"


VARIANTS = {variant.name: variant for variant in (
    Variant("3step", "3step", 3, True),
    Variant("1step", "1step", 1, True),
    Variant("colorization", "colorization-1step", 1, False),
    Variant("inpainting", "inpainting-1step", 1, False),
)}
DEFAULT_VARIANT = "3step"


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise CheckpointError(f"unknown InterLCM variant {name!r} (choose from {', '.join(VARIANTS)})") from None


def variant_in_name(name: str) -> str | None:
    """The variant a released file name stands for (``visual_encoder_colorization_1step.pth``), if any."""
    name = name.lower()
    for marker in ("colorization", "inpainting", "1step", "3step"):
        if marker in name:
            return marker
    return None


@dataclass
class InterLCMWeights:
    """Everything needed to build the backend."""

    state_dicts: dict[str, Mapping[str, torch.Tensor]]
    configs: dict[str, Mapping]
    variant: Variant
    face_size: int = DEFAULT_FACE_SIZE
    sources: dict[str, str] = field(default_factory=dict)  # part -> file, for messages


_notice_shown = False


def _licence_notice(checkpoints: list[Checkpoint]) -> None:
    """Say once, before the first download, that InterLCM's own weights are non-commercial."""
    global _notice_shown
    pending = [c for c in checkpoints if c.license.startswith("CC-BY-NC") and not hub.checkpoint_path(c).exists()]
    if pending and not _notice_shown:
        _notice_shown = True
        logger.warning("InterLCM's weights (%s) are %s: non-commercial use only (%s)",
                       ", ".join(c.id for c in pending), pending[0].license, pending[0].origin,
                       extra={"label": "licence"})


def registry_parts(roles: list[str], variant: Variant) -> tuple[dict, dict]:
    """The state dicts of ``roles`` (and the files they came from), fetched through the hub."""
    ids = {role: (FROZEN_CHECKPOINTS.get(role) or variant.checkpoint_id(role)) for role in roles}
    checkpoints = {role: get_checkpoint(checkpoint_id) for role, checkpoint_id in ids.items()}
    _licence_notice(list(checkpoints.values()))
    state_dicts, sources = {}, {}
    for role, checkpoint in checkpoints.items():
        path = hub.fetch(checkpoint)
        state_dicts[role] = hub.load_state_dict(path, wrapper=checkpoint.wrapper)
        sources[role] = str(path)
    return state_dicts, sources


def official_configs() -> dict[str, dict]:
    """The registry's architecture config of every part. All variants share one architecture, so the
    encoders' configs are written once, on the default (3-step) entries."""
    default = VARIANTS[DEFAULT_VARIANT]
    return {role: dict(get_checkpoint(FROZEN_CHECKPOINTS.get(role) or default.checkpoint_id(role)).config)
            for role in ROLES}


def _settings(raw: str | Mapping | None, source: Path) -> dict:
    if raw is None:
        return {}
    try:
        settings = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{source}: InterLCM settings are not valid JSON ({exc.msg})") from None
    unknown = set(settings) - {"variant", "face_size", "configs"}
    if unknown:
        raise CheckpointError(f"{source}: unknown InterLCM setting(s) {sorted(unknown)}")
    return settings


def split_bundle(state_dict: Mapping[str, torch.Tensor], source: str = "weights") -> dict[str, dict]:
    """``{"unet.conv_in.weight": ...}`` -> ``{"unet": {"conv_in.weight": ...}}``; unknown parts are an error."""
    parts: dict[str, dict] = {}
    for key, value in state_dict.items():
        role, _, name = key.partition(".")
        if role not in ROLES or not name:
            raise CheckpointError(f"{source}: key {key!r} names no InterLCM part (expected a prefix of "
                                  f"{', '.join(ROLES)})")
        parts.setdefault(role, {})[name] = value
    return parts


def _read_bundle(path: Path) -> tuple[dict, dict]:
    state_dict = hub.load_state_dict(path)
    if path.name.startswith(tuple(FILE_PREFIXES.values())) and not any(k.startswith(ROLES) for k in state_dict):
        raise CheckpointError(f"{path}: holds one part of InterLCM; pass the folder that holds it and its "
                              "partner (visual_encoder* and spatial_encoder* files)")
    parts = split_bundle(state_dict, str(path))
    metadata = hub.read_metadata(path)
    return parts, _settings(metadata.get(METADATA_KEY), path)


def _pick_file(folder: Path, role: str, variant: str | None) -> Path | None:
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES
                        and p.name.startswith(FILE_PREFIXES[role]))
    if variant is not None and len(candidates) > 1:
        candidates = [p for p in candidates if variant_in_name(p.name) in (variant, None)]
    if len(candidates) > 1:
        raise CheckpointError(f"{folder}: several {role.replace('_', ' ')} files "
                              f"({', '.join(p.name for p in candidates)}); choose one with --variant")
    return candidates[0] if candidates else None


def _read_folder(folder: Path, variant: str | None) -> tuple[dict, dict, dict]:
    settings_path = folder / SETTINGS_FILE
    settings = _settings(settings_path.read_text() if settings_path.exists() else None, settings_path)
    variant = variant or settings.get("variant")
    files = {role: path for role in ROLES if (path := _pick_file(folder, role, variant))}
    if not files:
        raise CheckpointError(f"{folder}: no InterLCM weight files (expected visual_encoder*, spatial_encoder*)")
    if "variant" not in settings and "visual_encoder" in files:
        named = variant_in_name(files["visual_encoder"].name)
        settings = {**settings, "variant": named} if named else settings
    parts = {role: hub.load_state_dict(path) for role, path in files.items()}
    return parts, settings, {role: str(path) for role, path in files.items()}


def resolve(spec: str | Path | None, variant: str | None = None) -> InterLCMWeights:
    """The weights named by ``--weights`` (see the module docstring) for ``variant`` (``--variant``)."""
    if variant is not None:
        get_variant(variant)  # a typo is reported before anything is read or downloaded
    settings: dict = {}
    local: dict = {}
    sources: dict = {}
    if spec is not None and isinstance(spec, str) and is_checkpoint_id(spec):
        named = next((v.name for v in VARIANTS.values()
                      if spec in (v.checkpoint_id("visual_encoder"), v.checkpoint_id("spatial_encoder"))), None)
        if named is None:
            raise CheckpointError(f"{spec}: not an InterLCM encoder checkpoint (use one of "
                                  f"interlcm.visual-encoder-<variant>, or --variant)")
        if variant not in (None, named):
            raise CheckpointError(f"--weights {spec} is the {named} model but --variant {variant} was given")
        variant = named
    elif spec is not None:
        path = Path(spec).expanduser()
        if path.is_dir():
            local, settings, sources = _read_folder(path, variant)
        elif path.is_file():
            local, settings = _read_bundle(path)
            sources = dict.fromkeys(local, str(path))
        else:
            raise CheckpointError(f"{spec}: no such file or folder and no registry id of that name "
                                  "(see `facefix models list --backend interlcm`)")
    chosen = get_variant(variant or settings.get("variant") or DEFAULT_VARIANT)
    missing = [role for role in ROLES if role not in local]
    fetched, fetched_sources = registry_parts(missing, chosen) if missing else ({}, {})
    configs = {**official_configs(), **settings.get("configs", {})}
    return InterLCMWeights(state_dicts={**fetched, **local}, configs=configs, variant=chosen,
                           face_size=int(settings.get("face_size", DEFAULT_FACE_SIZE)),
                           sources={**fetched_sources, **sources})
