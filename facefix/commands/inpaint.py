"""`facefix inpaint` (being built)."""

from facefix.errors import FacefixError


def inpaint() -> None:
    """Not available yet in this build."""
    raise FacefixError("facefix inpaint: not available yet in this build")
