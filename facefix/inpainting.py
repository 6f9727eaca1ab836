"""Masked face inpainting on pictures: aligned crops or whole photos.

Whole photos: detect the faces, align each to the FFHQ template at the inpainter's size, warp the mask
with the same affine transform, inpaint the faces whose warped mask is not empty, warp them back, and
take the new pixels *only inside the mask*: every known pixel of the output is the input's, exactly.
Holes that no face covers stay as they were and are counted (``unfilled``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from facefix.backends.base import Inpainter
from facefix.batching import Batches
from facefix.face.align import align_face
from facefix.face.detect import FaceDetector
from facefix.face.masks import mask_at_size
from facefix.face.paste import inverse_affine
from facefix.media import Picture
from facefix.pipeline import from_tensor, to_tensor


@dataclass
class InpaintResult:
    picture: Picture
    faces: int       # faces inpainted
    unfilled: int    # hole pixels outside every face crop, left as they were


def composite(source: np.ndarray, filled: np.ndarray, mask: np.ndarray) -> np.ndarray:
    info = np.iinfo(source.dtype)
    filled = np.clip(np.rint(filled), info.min, info.max).astype(source.dtype)
    return np.where(mask[..., None].astype(bool), filled, source)


def inpaint_crops(inpainter: Inpainter, crops: list[np.ndarray], masks: list[np.ndarray], max_value: float,
                  batches: Batches | None = None, on_chunk: Callable[[int], None] | None = None
                  ) -> list[np.ndarray]:
    """Fill the holes (1 = fill) of aligned ``crops``; ``batches`` defaults to all crops in one call,
    halved on out-of-memory; ``on_chunk`` is told how many crops each call filled."""
    batches = batches or Batches(inpainter.device, max(len(crops), 1), name=inpainter.name)

    def inpaint(chunk: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        faces = to_tensor([crop for crop, _ in chunk], max_value, inpainter.device)
        holes = torch.from_numpy(np.stack([hole for _, hole in chunk]).astype(np.float32))[:, None]
        return from_tensor(inpainter.inpaint(faces, holes.to(inpainter.device)), max_value)

    return batches.map(inpaint, list(zip(crops, masks)), on_chunk)


def inpaint_aligned(inpainter: Inpainter, picture: Picture, mask: np.ndarray,
                    batches: Batches | None = None) -> InpaintResult:
    """``picture`` is an aligned face of any size; it is inpainted at the model's size and resized back."""
    size = inpainter.face_size
    height, width = picture.bgr.shape[:2]
    crop = cv2.resize(picture.bgr, (size, size), interpolation=cv2.INTER_AREA) if (height, width) != (size, size) \
        else picture.bgr
    (face,) = inpaint_crops(inpainter, [crop], [mask_at_size(mask, size)], picture.max_value, batches)
    if (height, width) != (size, size):
        face = cv2.resize(face, (width, height), interpolation=cv2.INTER_CUBIC)
    pixels = composite(picture.bgr, face, mask)
    return InpaintResult(Picture(pixels, picture.alpha, picture.grayscale, picture.format), int(mask.any()), 0)


def inpaint_photo(inpainter: Inpainter, detector: FaceDetector, picture: Picture, mask: np.ndarray,
                  batches: Batches | None = None) -> InpaintResult:
    """Inpaint the masked parts of every detected face of a whole photo (``batches``: faces per call)."""
    size = inpainter.face_size
    height, width = picture.bgr.shape[:2]
    crops, crop_masks, affines = [], [], []
    for face in detector.detect(picture.bgr):
        crop, affine = align_face(picture.bgr, face.landmarks, size)
        crop_mask = cv2.warpAffine(mask * 255, affine, (size, size), flags=cv2.INTER_LINEAR) > 0
        if crop_mask.any():
            crops.append(crop)
            crop_masks.append(crop_mask.astype(np.uint8))
            affines.append(affine)
    canvas = picture.bgr.astype(np.float32)
    covered = np.zeros((height, width), bool)
    if crops:
        for face, affine in zip(inpaint_crops(inpainter, crops, crop_masks, picture.max_value, batches), affines):
            inverse = inverse_affine(affine, 1.0)
            warped = cv2.warpAffine(face, inverse, (width, height), flags=cv2.INTER_LINEAR)
            inside = cv2.warpAffine(np.ones((size, size), np.float32), inverse, (width, height)) > 0.999
            take = inside & ~covered
            canvas[take] = warped[take]
            covered |= inside
    hole = mask.astype(bool)
    pixels = composite(picture.bgr, canvas, mask)
    return InpaintResult(Picture(pixels, picture.alpha, picture.grayscale, picture.format), len(crops),
                         int((hole & ~covered).sum()))
