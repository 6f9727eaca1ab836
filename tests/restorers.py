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

    bf16_safe = True  # brightening is exact enough in bf16
    precision_probe_config = {}  # --precision auto times it (quickly) like a real backend

    @classmethod
    def load(cls, weights=None, *, device="cpu", dtype=torch.float32, options=None):
        return cls(face_size=64, device=torch.device(device), dtype=dtype, options=options or RestoreOptions())

    @classmethod
    def from_config(cls, config=None, *, device="cpu", dtype=torch.float32, options=None):
        return cls.load(device=device, dtype=dtype, options=options)

    def restore(self, faces: torch.Tensor) -> torch.Tensor:
        assert faces.shape[1:] == (3, self.face_size, self.face_size)
        return (faces * 0.5 + 0.5).clamp(0, 1)
