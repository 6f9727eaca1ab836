"""High-quality faces from a folder (or a list file), degraded on the fly into training pairs.

Sample ``i`` of epoch ``e`` is degraded with a generator seeded from ``(seed, e, i)``, so the pairs do
not depend on which worker makes them, and a resumed run sees exactly the data it would have seen.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from facefix.errors import FacefixError
from facefix.media import IMAGE_EXTENSIONS
from facefix.train.degradation import DegradationConfig, degrade


def list_faces(source: str | Path) -> list[Path]:
    """Image files under a folder (recursively), or the paths listed one per line in a text file."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    elif source.is_file():
        base = source.parent
        files = [base / line.strip() for line in source.read_text().splitlines() if line.strip()]
    else:
        raise FacefixError(f"{source}: no such folder or list file")
    if not files:
        raise FacefixError(f"{source}: no training images found")
    return files


class DegradedFaces(Dataset):
    """Pairs ``{"lq", "gt"}`` of RGB tensors in [0, 1] at ``size`` x ``size`` (``lq`` is ``gt`` when
    ``degradation`` is None, for methods that make their own inputs, like inpainting)."""

    def __init__(self, files: list[Path], *, size: int, degradation: DegradationConfig | None, seed: int = 0):
        self.files, self.size, self.degradation, self.seed = files, size, degradation, seed
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
        if rng.random() < 0.5:
            gt = gt[:, ::-1]
        gt = np.ascontiguousarray(gt)
        lq = gt if self.degradation is None else degrade(gt, rng, self.degradation)

        def to_tensor(bgr: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(bgr[..., ::-1])).permute(2, 0, 1).float()

        return {"lq": to_tensor(lq), "gt": to_tensor(gt)}
