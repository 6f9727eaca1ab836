"""Facial components (eyes, mouth) located from landmarks, for losses and discriminators on face parts.

Boxes are squares sized by the inter-ocular distance, so they scale with the face; crops are bilinear
(``roi_align``) and therefore differentiable with respect to the image.
"""

from __future__ import annotations

import torch
from torchvision.ops import roi_align

COMPONENTS = ("left_eye", "right_eye", "mouth")


def component_boxes(landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Square boxes ``(B, 4)`` as x0, y0, x1, y1 around each component, from 5-point landmarks (B, 5, 2).

    Sizes follow the inter-ocular distance ``d``: eyes get a ``0.8 d`` square, the mouth ``1.2 d``.
    68-point landmarks are reduced to the 5 points first (see :func:`five_points`).
    """
    if landmarks.shape[1] == 68:
        landmarks = five_points(landmarks)
    eye_distance = (landmarks[:, 1] - landmarks[:, 0]).norm(dim=1, keepdim=True)
    centres = {"left_eye": landmarks[:, 0], "right_eye": landmarks[:, 1], "mouth": landmarks[:, 3:5].mean(dim=1)}
    sides = {"left_eye": 0.8, "right_eye": 0.8, "mouth": 1.2}
    return {name: torch.cat([centres[name] - sides[name] * eye_distance / 2,
                             centres[name] + sides[name] * eye_distance / 2], dim=1) for name in COMPONENTS}


def five_points(landmarks68: torch.Tensor) -> torch.Tensor:
    """Eye centres, nose tip and mouth corners from the 68-point (iBUG) layout."""
    return torch.stack([landmarks68[:, 36:42].mean(dim=1), landmarks68[:, 42:48].mean(dim=1),
                        landmarks68[:, 30], landmarks68[:, 48], landmarks68[:, 54]], dim=1)


def crop_components(images: torch.Tensor, landmarks: torch.Tensor, crop_size: int) -> dict[str, torch.Tensor]:
    """Bilinear crops ``(B, C, crop_size, crop_size)`` of each component (differentiable w.r.t. images)."""
    batch = images.shape[0]
    index = torch.arange(batch, dtype=images.dtype, device=images.device)[:, None]
    crops = {}
    for name, box in component_boxes(landmarks.to(images)).items():
        rois = torch.cat([index, box], dim=1)
        crops[name] = roi_align(images, rois, output_size=crop_size, spatial_scale=1.0, sampling_ratio=2,
                                aligned=True)
    return crops
