"""Inpainting masks (1 / 255 = fill, 0 = keep): from files, from white pixels, and the paper's generators.

The seed paper trains and tests on a centre mask (a quarter of the image: the middle half of each side)
and on random masks covering 20-30 % of the image. The random masks here are free-form brush strokes,
optionally with a box, drawn until the hole area falls in the requested range; everything is drawn from
a ``numpy.random.Generator`` so a mask is a pure function of its seed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def center_mask(height: int, width: int) -> np.ndarray:
    """The middle half of each side (25 % of the area), as in Palette's and the paper's centre masks."""
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4: height // 4 + height // 2, width // 4: width // 4 + width // 2] = 1
    return mask


def _strokes(rng: np.random.Generator, height: int, width: int, mask: np.ndarray) -> None:
    scale = (height + width) / 2 / 256
    for _ in range(int(rng.integers(1, 4))):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        brush = max(1, int(rng.integers(12, 40) * scale))
        for _ in range(int(rng.integers(4, 12))):
            angle = rng.uniform(0, 2 * np.pi)
            length = rng.uniform(10, 60) * scale
            nx = int(np.clip(x + length * np.cos(angle), 0, width - 1))
            ny = int(np.clip(y + length * np.sin(angle), 0, height - 1))
            cv2.line(mask, (x, y), (nx, ny), 1, brush)
            cv2.circle(mask, (nx, ny), brush // 2, 1, -1)
            x, y = nx, ny


def random_mask(rng: np.random.Generator, height: int, width: int,
                area: tuple[float, float] = (0.2, 0.3), attempts: int = 200) -> np.ndarray:
    """Free-form strokes (and, half of the time, a box) covering ``area`` of the image."""
    low, high = area
    for _ in range(attempts):
        mask = np.zeros((height, width), np.uint8)
        if rng.random() < 0.5:
            h, w = int(height * rng.uniform(0.25, 0.45)), int(width * rng.uniform(0.25, 0.45))
            top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
            mask[top: top + h, left: left + w] = 1
        while mask.mean() < low:
            _strokes(rng, height, width, mask)
        if mask.mean() <= high:
            return mask
    raise RuntimeError(f"could not draw a mask with area in {area} after {attempts} attempts")


def white_mask(image: np.ndarray) -> np.ndarray:
    """Pixels painted pure white (every channel at its maximum), CodeFormer's inpainting convention."""
    top = 65535 if image.dtype == np.uint16 else 255
    if image.ndim == 2:
        return (image == top).astype(np.uint8)
    return np.all(image[..., :3] == top, axis=-1).astype(np.uint8)


def read_mask(path, shape: tuple[int, int]) -> np.ndarray:
    """A mask image: any non-zero pixel of its first channel is a hole; resized (nearest) to ``shape``."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise ValueError("cannot read this mask image")
    if mask.ndim == 3:
        mask = mask[..., :3].max(axis=-1)
    mask = (mask > 0).astype(np.uint8)
    if mask.shape != shape:
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask


def mask_at_size(mask: np.ndarray, size: int) -> np.ndarray:
    """``mask`` at ``size`` x ``size``: a pixel there is a hole if any part of it is, so no hole is lost."""
    if mask.shape == (size, size):
        return mask
    return (cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)


def find_mask_file(folder: Path, image: Path) -> Path | None:
    """The mask in ``folder`` named like ``image`` (any extension), or None."""
    matches = sorted(Path(folder).glob(f"{Path(image).stem}.*"))
    return matches[0] if matches else None
