"""Typed training configuration: defaults from the papers, overrides from a TOML file and ``--set``."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from facefix.errors import FacefixError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class TrainConfig:
    """Settings shared by every method; a recipe subclasses it with its own fields and defaults."""

    data: str = ""
    out: str = ""
    preset: str = "paper"  # "paper" or "tiny" (a tiny architecture for CPU smoke runs)
    size: int = 512
    batch_size: int = 8
    max_steps: int = 500_000
    max_minutes: float = 0.0  # also stop (validating and checkpointing) after this much time in train(); 0: no limit
    lr: float = 2e-3
    lr_schedule: str = "constant"  # "constant", "cosine" (every group's lr to 0 at max_steps) or "piecewise"
    lr_milestones: tuple[int, ...] = ()  # "piecewise": every lr is multiplied by lr_factor at each of these steps
    lr_factor: float = 0.5
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 0.0  # 0 disables
    grad_accumulation: int = 1
    ema_decay: float = 0.999
    mixed_precision: str = "no"  # "no", "bf16" or "fp16"
    checkpoint_every: int = 5000
    log_every: int = 10
    seed: int = 0
    workers: int = 2  # data-loading processes per training process (0: load in the training process)
    init: str | None = None  # registry id or file to start from
    pretrained_losses: bool = True  # False: random-weight loss networks, no LPIPS (tests, offline smoke runs)
    align: bool = False  # detect and align the faces of --data first (cached; see facefix.train.alignment)
    detector: str = "retinaface_resnet50"  # the detector --align uses ("dlib" needs no download)
    val_data: str = ""  # held-out aligned faces (folder or list file); "" disables validation
    val_every: int = 5000  # validate every this many steps (and at max_steps)
    tensorboard: bool = True  # also log to <out>/tensorboard

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolved(self) -> TrainConfig:
        """This config with every setting whose default depends on others made explicit (what a run uses,
        and what ``facefix train --show-config`` prints); a recipe subclass overrides it."""
        return self

    def needs_landmarks(self) -> bool:
        """Whether the recipe wants each training face's landmarks in its batches (``"landmarks"``)."""
        return False


_OPTIONAL_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _coerce(name: str, value: Any, default: Any, annotation: str = "") -> Any:
    if default is None and isinstance(value, str):
        # an optional field (``bool | None`` ...): "none" or "" for None, else its type's coercion
        if value.strip().lower() in ("", "none", "null"):
            return None
        kind = _OPTIONAL_TYPES.get(str(annotation).split("|")[0].strip())
        return value if kind in (None, str) else _coerce(name, value, kind(), annotation)
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(default, tuple):
        items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
        if default and all(type(d) is type(default[0]) for d in default):
            return tuple(type(default[0])(v) for v in items)  # a list of one type: any length
        if not default:  # an empty default: the element type from the annotation (``tuple[int, ...]``)
            kind = _OPTIONAL_TYPES.get(str(annotation).removeprefix("tuple[").split(",")[0].strip(), str)
            return tuple(kind(v) for v in items if v != "")
        return tuple(type(d)(v) for d, v in zip(default, items))
    if default is None or isinstance(value, type(default)):
        return value
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        raise FacefixError(f"config key {name!r}: cannot use {value!r} (expected {type(default).__name__})") from None


def apply_overrides(config: TrainConfig, overrides: dict[str, Any], source: str) -> TrainConfig:
    """A copy of ``config`` with ``overrides`` applied; unknown keys are an error naming ``source``."""
    known = {f.name: f for f in fields(config)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise FacefixError(f"{source}: unknown config key(s) {', '.join(unknown)} "
                           f"(known: {', '.join(sorted(known))})")
    values = {k: _coerce(k, v, getattr(config, k), known[k].type) for k, v in overrides.items()}
    return dataclasses.replace(config, **values)


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise FacefixError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise FacefixError(f"{path}: not valid TOML ({exc})") from None


def parse_set(items: list[str]) -> dict[str, str]:
    """``["lr=1e-4", "batch_size=4"]`` -> ``{"lr": "1e-4", "batch_size": "4"}``."""
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise FacefixError(f"--set {item!r}: expected KEY=VALUE")
        pairs[key.strip()] = value.strip()
    return pairs
