"""`facefix restore` (being built)."""

from facefix.errors import FacefixError


def restore() -> None:
    """Not available yet in this build."""
    raise FacefixError("facefix restore: not available yet in this build")
