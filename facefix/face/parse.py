"""Face-parsing masks for paste-back: keep skin, features, hair; leave out background, neck, clothes.

Labels follow CelebAMask-HQ as ParseNet predicts them (0 background, 1 skin, ..., 13 hair, 14 hat,
15 earring, 16 necklace, 17 neck, 18 cloth).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from facefix.errors import FacefixError

PARSE_SIZE = 512
FACE_LABELS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15)
_BORDER = 10


def mask_from_labels(labels: np.ndarray) -> np.ndarray:
    """A soft [0,1] blend mask from a parse map: face classes, blurred twice, border cleared."""
    mask = np.isin(labels, FACE_LABELS).astype(np.float32) * 255.0
    for _ in range(2):
        mask = cv2.GaussianBlur(mask, (101, 101), 11)
    mask[:_BORDER], mask[-_BORDER:], mask[:, :_BORDER], mask[:, -_BORDER:] = 0, 0, 0, 0
    return np.clip(mask / 255.0, 0.0, 1.0)


class FaceParser:
    """ParseNet (facexlib's network, weights through our cache): restored face -> soft paste mask."""

    def __init__(self, state_dict: dict[str, torch.Tensor], device: torch.device):
        from facexlib.parsing.parsenet import ParseNet

        self.network = ParseNet(in_size=PARSE_SIZE, out_size=PARSE_SIZE, parsing_ch=19)
        missing, unexpected = self.network.load_state_dict(state_dict, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise FacefixError(f"ParseNet: checkpoint does not match (missing {missing[:3]}, "
                               f"unexpected {unexpected[:3]})")
        self.network = self.network.to(device).eval()
        self.device = device

    @torch.inference_mode()
    def blend_mask(self, face_bgr: np.ndarray, max_value: float) -> np.ndarray:
        """The paste mask for one restored face (BGR float), at the face's size."""
        size = face_bgr.shape[0]
        face = cv2.resize(face_bgr.astype(np.float32) / max_value, (PARSE_SIZE, PARSE_SIZE),
                          interpolation=cv2.INTER_LINEAR)
        x = torch.from_numpy(face[..., ::-1].copy()).permute(2, 0, 1)[None].to(self.device) * 2 - 1
        labels = self.network(x)[0].argmax(dim=1)[0].cpu().numpy()
        mask = mask_from_labels(labels)
        return mask if size == PARSE_SIZE else cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)


def load_parser(device: torch.device | str = "cpu", weights: str | None = None) -> FaceParser:
    """ParseNet from ``weights`` or the cache (downloaded on first use: 85 MB)."""
    from facefix import hub

    path = weights or hub.fetch("face.parsenet")
    return FaceParser(hub.load_state_dict(path), torch.device(device))
