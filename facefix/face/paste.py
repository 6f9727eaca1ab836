"""Paste restored faces back into the (optionally upscaled) image with a soft mask.

Follows facexlib's conventions (inverse affine scaled by the upscale factor plus a half-pixel shift
per upscale step; mask eroded then Gaussian-blurred with sizes that grow with the face), but warps
only the face's bounding region instead of whole-frame masks, face and mask in one call, so many
faces in a large photo stay cheap.
"""

from __future__ import annotations

import cv2
import numpy as np


def inverse_affine(affine: np.ndarray, upscale: float) -> np.ndarray:
    """crop -> output-image transform for an image upscaled by ``upscale``."""
    inverse = cv2.invertAffineTransform(affine) * upscale
    if upscale > 1:
        inverse[:, 2] += 0.5 * upscale
    return inverse


def feather_mask(coverage: np.ndarray, upscale: float) -> tuple[np.ndarray, np.ndarray]:
    """From the warped all-ones crop, the eroded paste mask and the soft blend mask."""
    edge = max(int(2 * upscale), 1)
    eroded = cv2.erode(coverage, np.ones((edge, edge), np.uint8))
    w_edge = int(np.sqrt(eroded.sum())) // 20
    soft = cv2.erode(eroded, np.ones((2 * w_edge, 2 * w_edge), np.uint8)) if w_edge else eroded
    if w_edge:
        soft = cv2.GaussianBlur(soft, (2 * w_edge + 1, 2 * w_edge + 1), 0)
    return eroded, soft


def paste_face(canvas: np.ndarray, face: np.ndarray, affine: np.ndarray, upscale: float,
               blend_mask: np.ndarray | None = None) -> None:
    """Blend ``face`` (a restored crop, float, same channels as ``canvas``) into ``canvas`` in place.

    ``canvas`` is the already upscaled image, of any dtype: only the face's region is converted to
    float, so huge photos do not need a float copy. Integer canvases are rounded on write-back.
    ``blend_mask`` (crop-sized, [0,1]) replaces the feathered square mask, e.g. a face-parsing mask.
    """
    height, width = canvas.shape[:2]
    size = face.shape[0]
    inverse = inverse_affine(affine, upscale)

    # 1. The face's footprint in the output, padded for the interpolation kernel.
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inverse.T
    pad = 2
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + pad
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x0 >= x1 or y0 >= y1:
        return
    local = inverse.copy()
    local[:, 2] -= (x0, y0)
    region = (x1 - x0, y1 - y0)

    # 2. One warp carries the face and, as an extra channel, its coverage (or the given mask) into
    #    that region only.
    channels = face.reshape(size, size, -1).astype(np.float32, copy=False)
    alpha = np.ones((size, size), np.float32) if blend_mask is None else blend_mask.astype(np.float32)
    layers = cv2.warpAffine(np.dstack([channels, alpha]), local, region, flags=cv2.INTER_LINEAR)
    warped, alpha = layers[..., :-1], layers[..., -1]
    if blend_mask is None:
        eroded, soft = feather_mask(alpha, upscale)
        warped = warped * eroded[..., None]
    else:
        soft = alpha

    # 3. Blend.
    target = canvas[y0:y1, x0:x1]
    soft = soft[..., None]
    blended = soft * warped + (1.0 - soft) * target.astype(np.float32)
    if np.issubdtype(canvas.dtype, np.integer):
        info = np.iinfo(canvas.dtype)
        blended = np.clip(np.rint(blended), info.min, info.max)
    target[...] = blended.astype(canvas.dtype)
