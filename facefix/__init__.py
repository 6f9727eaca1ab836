"""facefix: restore old, blurry, noisy and damaged faces in photos and videos."""

from __future__ import annotations

__version__ = "0.1.0"

# Loaded when first used, so that ``facefix --help`` and ``--version`` import no torch.
_LAZY = {"BACKENDS": "facefix.backends", "load_restorer": "facefix.backends", "Checkpoint": "facefix.registry",
         "get_checkpoint": "facefix.registry", "list_checkpoints": "facefix.registry"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BACKENDS",
    "Checkpoint",
    "__version__",
    "get_checkpoint",
    "list_checkpoints",
    "load_restorer",
]
