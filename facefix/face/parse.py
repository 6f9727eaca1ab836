"""Face-parsing masks for paste-back: keep skin, features, hair; leave out background, neck, clothes.

Labels follow CelebAMask-HQ as ParseNet predicts them (0 background, 1 skin, ..., 13 hair, 14 hat,
15 earring, 16 necklace, 17 neck, 18 cloth).
"""

from __future__ import annotations

import cv2
import numpy as np

FACE_LABELS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15)
_BORDER = 10


def mask_from_labels(labels: np.ndarray) -> np.ndarray:
    """A soft [0,1] blend mask from a parse map: face classes, blurred twice, border cleared."""
    mask = np.isin(labels, FACE_LABELS).astype(np.float32) * 255.0
    for _ in range(2):
        mask = cv2.GaussianBlur(mask, (101, 101), 11)
    mask[:_BORDER], mask[-_BORDER:], mask[:, :_BORDER], mask[:, -_BORDER:] = 0, 0, 0, 0
    return mask / 255.0
