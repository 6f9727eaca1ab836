"""FID reference statistics: computed from a folder of images and cached, or read from a statistics file.

Statistics of a folder are cached under ``<cache>/fid-stats/`` keyed by a hash of the folder's content
(every file's relative name and bytes) and of the feature extractor, so a changed, added or removed
image gives a new entry and the same images under another path reuse the old one.

Statistics files: ``.npz`` with ``mu``/``sigma`` (pytorch-fid's ``--save-stats``) or ``mean``/``cov``, and
basicsr's ``inception_FFHQ_512-f7b384ab.pth`` (a pickle of ``mean``/``cov`` numpy arrays, read with
``weights_only`` and numpy's array types allowed; nothing else is unpickled). basicsr publishes its
FFHQ statistics only on Google Drive and Baidu, so facefix cannot fetch them: download by hand and pass
``--fid-stats``. A file named like basicsr's (``-<8 hex>`` before the extension) is checked against that
published sha256 prefix.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from facefix import hub
from facefix.console import progress
from facefix.errors import FacefixError
from facefix.files import OutputExistsError, write_with
from facefix.quality import metrics as m
from facefix.media import IMAGE_EXTENSIONS

_CHUNK = 1 << 20
#: images whose features are computed at once (keeps memory flat on large reference sets)
_FEATURE_CHUNK = 64


@dataclass(frozen=True)
class FIDReference:
    mean: np.ndarray
    cov: np.ndarray
    description: str  # what the statistics are of, for reports


def reference_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FacefixError(f"{folder}: --fid-ref must be a folder of images")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if len(files) < 2:
        raise FacefixError(f"{folder}: --fid-ref needs at least 2 images (found {len(files)})")
    return files


def content_hash(folder: Path, files: list[Path]) -> str:
    """sha256 over each file's relative name and bytes, in sorted order."""
    digest = hashlib.sha256()
    with progress(transient=True) as bar:
        task = bar.add_task("hashing the FID reference", total=len(files), status="")
        for path in files:
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            with path.open("rb") as stream:
                for block in iter(lambda: stream.read(_CHUNK), b""):
                    digest.update(block)
            digest.update(b"\0")
            bar.advance(task)
    return digest.hexdigest()


def _read_reference(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FacefixError(f"{path}: cannot read this image (FID reference)")
    return image


def folder_reference(folder: Path, features: m.InceptionFeatures) -> FIDReference:
    """Statistics of every image in ``folder``, from the cache when its content was seen before."""
    files = reference_images(folder)
    key = hashlib.sha256(f"{content_hash(folder, files)}:{features.tag}".encode()).hexdigest()[:32]
    cached = hub.cache_dir() / "fid-stats" / f"{key}.npz"
    description = f"{folder} ({len(files)} images)"
    if cached.exists():
        with np.load(cached) as stats:
            return FIDReference(stats["mu"], stats["sigma"], description)
    rows = []
    with progress(transient=True) as bar:
        task = bar.add_task("FID reference features", total=len(files), status="")
        for start in range(0, len(files), _FEATURE_CHUNK):
            chunk = files[start:start + _FEATURE_CHUNK]
            rows.append(features([_read_reference(p) for p in chunk]))
            bar.advance(task, len(chunk))
    mean, cov = m.feature_statistics(np.concatenate(rows))
    with contextlib.suppress(OutputExistsError):  # another run cached the same statistics meanwhile
        write_with(cached, lambda tmp: np.savez(tmp, mu=mean, sigma=cov))
    return FIDReference(mean, cov, description)


def _basicsr_pickle(path: Path) -> dict:
    # numpy arrays pickle through these reconstructors; allowing them lets weights_only read basicsr's
    # statistics without unpickling anything else. Files written under numpy 1 (basicsr's) name the
    # reconstructor numpy.core.multiarray, numpy 2 names it numpy._core.multiarray.
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    reconstruct = multiarray._reconstruct
    allowed = [reconstruct, (reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype,
               *{type(np.dtype(t)) for t in (np.float64, np.float32)}]
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, map_location="cpu", weights_only=True)


def _published_prefix(path: Path) -> str | None:
    match = re.search(r"-([0-9a-f]{8})$", path.stem)
    return match.group(1) if match else None


def file_reference(path: Path) -> FIDReference:
    """Statistics from a ``.npz`` (mu/sigma or mean/cov) or basicsr ``.pth`` file."""
    if not path.is_file():
        raise FacefixError(f"{path}: no such FID statistics file")
    prefix = _published_prefix(path)
    if prefix and not hub.sha256_of(path).startswith(prefix):
        raise FacefixError(f"{path}: sha256 does not start with {prefix} as its name says (corrupt download?)")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                stats = {k: archive[k] for k in archive.files}
        else:
            stats = _basicsr_pickle(path)
    except Exception as exc:  # noqa: BLE001 - numpy and torch raise many kinds on bad files
        raise FacefixError(f"{path}: not a readable FID statistics file ({type(exc).__name__})") from None
    mean, cov = stats.get("mu", stats.get("mean")), stats.get("sigma", stats.get("cov"))
    if mean is None or cov is None:
        raise FacefixError(f"{path}: no mu/sigma or mean/cov in this FID statistics file")
    mean, cov = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
    if mean.ndim != 1 or cov.shape != (mean.size, mean.size):
        raise FacefixError(f"{path}: FID statistics of the wrong shape (mean {mean.shape}, cov {cov.shape})")
    return FIDReference(mean, cov, str(path))
