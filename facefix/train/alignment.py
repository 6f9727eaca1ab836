"""Aligning unaligned photos before training (``--align``), with the pipeline's detector and crop.

Each photo's best face is warped onto the FFHQ template at the training size, exactly as ``facefix
restore`` crops faces, and written to a cache keyed by the photo (path, size, modification time), the
detector and the size: a second run, or another process of the same run, reuses the crops. Photos with
no face are remembered too (an empty marker), reported, and left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import cv2

from facefix import files
from facefix.console import progress
from facefix.errors import FacefixError
from facefix.face.align import align_face
from facefix.face.detect import FaceDetector


def aligned_cache_dir(detector_name: str, size: int) -> Path:
    """Where aligned crops for this detector and size live (under facefix's cache, ``$FACEFIX_HOME``)."""
    from facefix import hub

    return hub.cache_dir() / "aligned" / f"{detector_name}-{size}"


def _cache_key(photo: Path) -> str:
    stat = photo.stat()
    return hashlib.sha256(f"{photo.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:32]


def align_photos(photos: list[Path], *, make_detector: Callable[[], FaceDetector], size: int,
                 cache: Path, show_progress: bool = False) -> tuple[list[Path], list[Path]]:
    """Aligned crops of ``photos`` (cached) and the photos in which no face was found.

    The detector is built (``make_detector()``) only if some photo is not in the cache yet.
    """
    cache.mkdir(parents=True, exist_ok=True)
    aligner = _CachedAligner(make_detector, size, cache)
    crops, faceless = [], []
    with progress(transient=True) as bar:
        task = bar.add_task("aligning faces", total=len(photos), status="", visible=show_progress)
        for photo in photos:
            crop = aligner.crop_of(photo)
            if crop is None:
                faceless.append(photo)
            else:
                crops.append(crop)
            bar.advance(task)
    return crops, faceless


class _CachedAligner:
    def __init__(self, make_detector: Callable[[], FaceDetector], size: int, cache: Path):
        self.make_detector, self.size, self.cache = make_detector, size, cache
        self.detector: FaceDetector | None = None

    def crop_of(self, photo: Path) -> Path | None:
        """The cached crop of ``photo``'s best face (made now if needed), or None if it has no face."""
        key = _cache_key(photo)
        crop_path, none_path = self.cache / f"{key}.png", self.cache / f"{key}.none"
        if crop_path.exists():
            return crop_path
        if none_path.exists():
            return None
        image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
        if image is None:
            raise FacefixError(f"{photo}: cannot read this image")
        self.detector = self.detector or self.make_detector()
        faces = self.detector.detect(image)
        if not faces:
            files.write_bytes(none_path, str(photo), overwrite=True)  # processes of a run may align one photo
            return None
        crop, _ = align_face(image, faces[0].landmarks, self.size)
        files.write_with(crop_path, lambda p: cv2.imwrite(str(p), crop), overwrite=True)
        return crop_path
