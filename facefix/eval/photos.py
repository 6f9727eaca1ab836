"""Whole (unaligned) photos through the restore pipeline: detect, align, restore, paste.

Metrics are taken on the whole pictures at their own size (PSNR/SSIM/LPIPS against a ground truth of the
same size, NIQE without one). Identity is measured per face on aligned crops, where ArcFace works: the
restored crop against the ground truth aligned with the same landmarks, or without ground truth against
the input crop; an image's IDS is the mean over its faces (NaN, left out of the mean, when none is found).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from facefix.console import progress
from facefix.eval.runner import FacePair, Sample
from facefix.face.align import align_face
from facefix.media import Picture
from facefix.memory import auto_batch_limit
from facefix.pipeline import FaceRestorePipeline


def looks_unaligned(files: list[Path]) -> bool:
    """Aligned face crops are square; a set with any other shape is taken as whole photos.

    Only the headers are read; a file PIL cannot open is left for the real read to report."""
    for path in files:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, ValueError):
            continue
        if width != height:
            return True
    return False


def restore_photos(pipeline: FaceRestorePipeline, samples: list[Sample], batch_size: int | None = 4) -> int:
    """Restore every face of every photo, ``batch_size`` photos per pipeline call (``None``: as many as
    ``--batch-size auto`` may put faces in one batch); sets ``output`` and ``faces``. Returns the number of faces."""
    size = pipeline.restorer.face_size
    batch_size = batch_size or auto_batch_limit(pipeline.restorer.device)
    found = 0
    with progress(transient=True) as bar:
        task = bar.add_task("restoring photos", total=len(samples), status="")
        for start in range(0, len(samples), batch_size):
            chunk = samples[start:start + batch_size]
            results = pipeline.restore([Picture(s.input, None, False, "PNG") for s in chunk])
            for sample, result in zip(chunk, results):
                sample.output = result.picture.bgr
                sample.faces = [
                    FacePair(crop, restored, None if sample.reference is None
                             else align_face(sample.reference, face.landmarks, size)[0])
                    for face, crop, restored in zip(result.faces, result.crops, result.restored)]
                found += len(sample.faces)
            bar.advance(task, len(chunk))
            bar.update(task, status=f"{found} faces")
    return found
