"""High-quality faces from a folder (or a list file), degraded on the fly into training pairs.

Sample ``i`` of epoch ``e`` is degraded with a generator seeded from ``(seed, e, i)``, so the pairs do
not depend on which worker (or which process) makes them, and a resumed run sees exactly the data it
would have seen.
"""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from facefix.errors import FacefixError
from facefix.media import IMAGE_EXTENSIONS
from facefix.quality.degradation import DegradationConfig, degrade


def list_faces(source: str | Path) -> list[Path]:
    """Image files under a folder (recursively), or the paths listed one per line in a text file."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    elif source.is_file():
        files = _read_list(source)
    else:
        raise FacefixError(f"{source}: no such folder or list file")
    if not files:
        raise FacefixError(f"{source}: no training images found")
    return files


def _read_list(list_file: Path) -> list[Path]:
    """Paths one per line (relative ones are relative to the list file; blank lines and ``#`` are skipped)."""
    try:
        lines = list_file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FacefixError(f"{list_file}: cannot read this list file ({exc})") from None
    files = []
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = list_file.parent / entry
        if not path.is_file():
            raise FacefixError(f"{list_file}: line {number}: {entry} is not a file")
        files.append(path)
    return files


class DegradedFaces(Dataset):
    """Pairs ``{"lq", "gt"}`` of RGB tensors in [0, 1] at ``size`` x ``size`` (``lq`` is ``gt`` when
    ``degradation`` is None, for methods that make their own inputs, like inpainting)."""

    def __init__(self, files: list[Path], *, size: int, degradation: DegradationConfig | None, seed: int = 0,
                 flip: bool = True):
        self.files, self.size, self.degradation, self.seed, self.flip = files, size, degradation, seed, flip
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FacefixError(f"{path}: cannot read this training image")
        if image.shape[:2] != (self.size, self.size):
            image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return image.astype(np.float32) / 255.0

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        gt = self._load(self.files[index])
        if rng.random() < 0.5 and self.flip:
            gt = gt[:, ::-1]
        gt = np.ascontiguousarray(gt)
        lq = gt if self.degradation is None else degrade(gt, rng, self.degradation)

        def to_tensor(bgr: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(bgr[..., ::-1])).permute(2, 0, 1).float()

        return {"lq": to_tensor(lq), "gt": to_tensor(gt)}


def _seed_worker(worker_id: int) -> None:
    # The DataLoader seeds torch in each worker from its own generator; numpy's and random's global
    # state get the same seed, so a library drawing from them in a worker is reproducible too.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def batch_loader(dataset: DegradedFaces, indices: list[int], *, batch_size: int, workers: int, pin_memory: bool,
                 seed: tuple[int, ...]) -> DataLoader:
    """Batches of ``dataset[indices]`` in that order, made by ``workers`` processes (0: this one).

    The loader draws its workers' seeds from a generator seeded with ``seed``, never from torch's global
    random state, which belongs to the recipe (and is restored exactly on resume).
    """
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence(list(seed)).generate_state(1)[0]))
    return DataLoader(Subset(dataset, indices), batch_size=batch_size, num_workers=workers, pin_memory=pin_memory,
                      worker_init_fn=_seed_worker, generator=generator)
