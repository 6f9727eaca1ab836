"""Enlarging whole pictures (colour and alpha) by ``--upscale``: with the background upsampler when there is
one, else OpenCV's resize (LANCZOS4 for colour, linear for alpha)."""

from __future__ import annotations

import cv2
import numpy as np

from facefix.media import Picture
from facefix.upsample.upsampler import BackgroundUpsampler


def enlarged_size(picture: Picture, upscale: float) -> tuple[int, int]:
    """(width, height) of ``picture`` at ``--upscale``, as every output (and video frame) is sized."""
    width, height = picture.size
    return int(width * upscale), int(height * upscale)


def enlarge_pixels(bgr: np.ndarray, size: tuple[int, int], background: BackgroundUpsampler | None) -> np.ndarray:
    if background is not None:
        return background.enhance(bgr, size)
    if (bgr.shape[1], bgr.shape[0]) == tuple(size):
        return bgr.copy()
    return cv2.resize(bgr, size, interpolation=cv2.INTER_LANCZOS4)


def enlarge_alpha(alpha: np.ndarray | None, size: tuple[int, int],
                  background: BackgroundUpsampler | None) -> np.ndarray | None:
    if alpha is None:
        return None
    if background is not None:
        return background.enhance_alpha(alpha, size)
    if (alpha.shape[1], alpha.shape[0]) == tuple(size):
        return alpha
    return cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)


def enlarge_picture(picture: Picture, upscale: float, background: BackgroundUpsampler | None) -> Picture:
    size = enlarged_size(picture, upscale)
    return Picture(enlarge_pixels(picture.bgr, size, background), enlarge_alpha(picture.alpha, size, background),
                   picture.grayscale, picture.format)
