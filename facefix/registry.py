"""The checkpoint registry: one TOML file per backend in ``weights/``, shipped inside the wheel.

Each ``[[checkpoint]]`` table is one file we know how to download and load::

    [[checkpoint]]
    id = "fusion.gfpgan-v1.4"          # "<backend or group>.<tag>"
    urls = ["https://..."]             # tried in order (FACEFIX_MIRROR is tried first)
    filename = "GFPGANv1.4.pth"        # name in the cache
    size = 348632874                   # bytes, when known
    sha256 = "e2cd..."                 # when published (a third-party pin is fine; say so in `origin`)
    license = "Apache-2.0"
    wrapper = "params_ema"             # key holding the state dict, if any
    origin = "https://github.com/TencentARC/GFPGAN"
    default = true                     # the backend's default checkpoint
    description = "..."
    [checkpoint.config]                # architecture config, passed to the backend
    out_size = 512
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from facefix.errors import CheckpointError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_FIELDS = {"id", "urls", "filename", "size", "sha256", "license", "wrapper", "origin", "default",
           "description", "config", "files"}


@dataclass(frozen=True)
class Checkpoint:
    """A downloadable weight file and what is needed to use it."""

    id: str
    urls: tuple[str, ...]
    filename: str
    license: str
    origin: str = ""
    size: int | None = None
    sha256: str | None = None
    wrapper: str | None = None
    default: bool = False
    description: str = ""
    config: Mapping = field(default_factory=lambda: MappingProxyType({}))

    @property
    def group(self) -> str:
        """The backend (or helper group such as ``face`` or ``metrics``) the file belongs to."""
        return self.id.split(".", 1)[0]

    @property
    def tag(self) -> str:
        return self.id.split(".", 1)[1]


def registry_dir() -> Path:
    """``facefix/weights`` in an installed wheel, ``weights/`` in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "weights", here.parent / "weights"):
        if candidate.is_dir():
            return candidate
    raise CheckpointError(f"{here / 'weights'}: checkpoint registry missing from the installation")


def _parse(entry: dict, source: Path) -> Checkpoint:
    unknown = set(entry) - _FIELDS
    if unknown:
        raise CheckpointError(f"{source}: unknown field(s) {sorted(unknown)} in entry {entry.get('id')!r}")
    try:
        return Checkpoint(
            id=entry["id"],
            urls=tuple(entry["urls"]),
            filename=entry["filename"],
            license=entry["license"],
            origin=entry.get("origin", ""),
            size=entry.get("size"),
            sha256=entry.get("sha256"),
            wrapper=entry.get("wrapper"),
            default=entry.get("default", False),
            description=entry.get("description", ""),
            config=MappingProxyType(dict(entry.get("config", {}))),
        )
    except KeyError as missing:
        raise CheckpointError(f"{source}: entry {entry.get('id')!r} lacks field {missing}") from None


@functools.cache
def _load_all() -> dict[str, Checkpoint]:
    checkpoints: dict[str, Checkpoint] = {}
    for path in sorted(registry_dir().glob("*.toml")):
        with path.open("rb") as f:
            data = tomllib.load(f)
        for entry in data.get("checkpoint", []):
            ckpt = _parse(entry, path)
            if ckpt.id in checkpoints:
                raise CheckpointError(f"{path}: duplicate checkpoint id {ckpt.id!r}")
            checkpoints[ckpt.id] = ckpt
    return checkpoints


def list_checkpoints(group: str | None = None) -> list[Checkpoint]:
    """All registered checkpoints, optionally only those of one backend or group."""
    return [c for c in _load_all().values() if group is None or c.group == group]


def get_checkpoint(checkpoint_id: str) -> Checkpoint:
    try:
        return _load_all()[checkpoint_id]
    except KeyError:
        known = ", ".join(sorted(_load_all()))
        raise CheckpointError(f"unknown checkpoint {checkpoint_id!r} (known: {known})") from None


def is_checkpoint_id(spec: str) -> bool:
    return spec in _load_all()


def default_checkpoint(group: str) -> Checkpoint:
    defaults = [c for c in list_checkpoints(group) if c.default]
    if len(defaults) != 1:
        raise CheckpointError(f"backend {group!r} has {len(defaults)} default checkpoints in the registry, expected 1")
    return defaults[0]
