"""`facefix eval` (being built)."""

from facefix.errors import FacefixError


def evaluate() -> None:
    """Not available yet in this build."""
    raise FacefixError("facefix eval: not available yet in this build")
