"""Alignment of a face to the FFHQ 5-point template.

The template is the mean RetinaFace landmark set over FFHQ at 512 px (left eye, right eye, nose tip,
left and right mouth corners, image left/right), scaled for other face sizes. The similarity
transform is estimated with LMEDS as in facexlib, so crops match what GFPGAN-family models were
trained on.
"""

from __future__ import annotations

import cv2
import numpy as np

FFHQ_TEMPLATE_512 = np.array(
    [[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
     [201.26117, 371.41043], [313.08905, 371.15118]],
    dtype=np.float32,
)
#: where dlib's nose-base point falls in the 512 template (calibrated against RetinaFace crops)
NOSE_BASE_512 = np.array([255.8, 334.4], dtype=np.float32)
#: the grey that fills crop pixels outside the image (BGR), as in facexlib
BORDER_BGR = (135, 133, 132)


def ffhq_template(face_size: int) -> np.ndarray:
    """The 5-point template for a square crop of ``face_size`` pixels."""
    return FFHQ_TEMPLATE_512 * (face_size / 512.0)


def estimate_affine(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The 2x3 similarity transform (image -> crop) that best maps ``landmarks`` onto ``template``.

    Points marked NaN in ``landmarks`` are left out (a detector without mouth corners, say).
    """
    known = ~np.isnan(landmarks).any(axis=1)
    affine, _ = cv2.estimateAffinePartial2D(landmarks[known].astype(np.float32),
                                            template[known].astype(np.float32), method=cv2.LMEDS)
    if affine is None:
        raise ValueError("cannot estimate an alignment from these landmarks")
    return affine


def align_face(image: np.ndarray, landmarks: np.ndarray, face_size: int,
               template: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Warp the face with these landmarks into a ``face_size`` crop; returns ``(crop, affine)``."""
    template = ffhq_template(face_size) if template is None else template
    affine = estimate_affine(landmarks, template)
    scale = {np.dtype(np.uint8): 1.0, np.dtype(np.uint16): 257.0}.get(image.dtype, 1.0 / 255.0)
    border = tuple(v * scale for v in BORDER_BGR)
    if image.ndim == 2 or image.shape[2] == 1:
        border = float(np.mean(border))
    crop = cv2.warpAffine(image, affine, (face_size, face_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return crop, affine
