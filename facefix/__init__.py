"""facefix: restore old, blurry, noisy and damaged faces in photos and videos."""

__version__ = "0.1.0"

from facefix.backends import BACKENDS, load_restorer  # noqa: E402
from facefix.registry import Checkpoint, get_checkpoint, list_checkpoints  # noqa: E402

__all__ = [
    "BACKENDS",
    "Checkpoint",
    "__version__",
    "get_checkpoint",
    "list_checkpoints",
    "load_restorer",
]
