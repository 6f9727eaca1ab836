"""`facefix bench` (being built)."""

from facefix.errors import FacefixError


def bench() -> None:
    """Not available yet in this build."""
    raise FacefixError("facefix bench: not available yet in this build")
