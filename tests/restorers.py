"""A restorer defined for tests only: it brightens faces, so pasted regions are easy to find."""

from __future__ import annotations

import torch

from facefix.backends.base import Restorer, RestoreOptions


class BrightenRestorer(Restorer):
    name = "brighten"
    supported_options = frozenset()

    @classmethod
    def from_state_dict(cls, state_dict, *, config, device, dtype, options):
        return cls(face_size=int(config.get("face_size", 64)) if config else 64, device=device, dtype=dtype,
                   options=options)

    @classmethod
    def load(cls, weights=None, *, device="cpu", dtype=torch.float32, options=None):
        return cls(face_size=64, device=torch.device(device), dtype=dtype, options=options or RestoreOptions())

    def restore(self, faces: torch.Tensor) -> torch.Tensor:
        assert faces.shape[1:] == (3, self.face_size, self.face_size)
        return (faces * 0.5 + 0.5).clamp(0, 1)
