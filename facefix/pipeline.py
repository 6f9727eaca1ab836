"""Detect -> align -> restore -> paste, for a batch of pictures.

The pipeline only knows the :class:`~facefix.backends.base.Restorer` interface: it never asks which
backend it drives. Faces from every picture of a batch go through the restorer together, in chunks of
``batch_size`` (``None``: ``--batch-size auto``), halved on out-of-memory, by :class:`~facefix.batching.Batches`.

:meth:`FaceRestorePipeline.restore` is :meth:`~FaceRestorePipeline.prepare` (detect and align, CPU)
followed by :meth:`~FaceRestorePipeline.complete` (restore and paste); the runner calls them on
different threads so that the next pictures are read and detected while these are restored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from facefix.allocator import keep_freed_cpu_memory
from facefix.backends.base import Restorer
from facefix.batching import Batches
from facefix.face.align import align_face
from facefix.face.detect import DetectedFace, FaceDetector
from facefix.face.parse import FaceParser
from facefix.face.paste import paste_face
from facefix.media import Picture
from facefix.upsample.pictures import enlarge_alpha, enlarge_pixels, enlarged_size

if TYPE_CHECKING:
    from facefix.upsample.upsampler import BackgroundUpsampler

#: faces whose eyes are closer than this (pixels) are too small to restore (facexlib's default)
MIN_EYE_DISTANCE = 5.0


@dataclass
class RestoredPicture:
    """The output of one input picture, with what was found and how long it took."""

    picture: Picture
    faces: list[DetectedFace]
    crops: list[np.ndarray] = field(default_factory=list)  # aligned input faces, BGR, source dtype
    restored: list[np.ndarray] = field(default_factory=list)  # restored faces, BGR, source dtype
    identity_angles: list[float] = field(default_factory=list)  # per face, when the pipeline scores identity
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class PreparedBatch:
    """Pictures with their faces detected and aligned, waiting for :meth:`FaceRestorePipeline.complete`."""

    results: list[RestoredPicture]
    crops: list[np.ndarray]  # every aligned face of the batch, in picture order
    owners: list[int]  # index in ``results`` of each crop's picture
    affines: list[np.ndarray]  # image -> crop transform of each crop
    detect_seconds: float


def to_tensor(crops: list[np.ndarray], max_value: float, device: torch.device) -> torch.Tensor:
    """BGR crops (uint8/uint16) -> the restorer's input: RGB float in [0, 1], (B, 3, S, S)."""
    stacked = np.stack(crops).astype(np.float32) / max_value
    return torch.from_numpy(stacked[..., ::-1].copy()).permute(0, 3, 1, 2).to(device)


def from_tensor(faces: torch.Tensor, max_value: float) -> list[np.ndarray]:
    """The restorer's output -> float BGR crops scaled to ``max_value``."""
    array = faces.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()[..., ::-1] * max_value
    return [np.ascontiguousarray(face) for face in array]


def _center_face(faces: list[DetectedFace], width: int, height: int) -> list[DetectedFace]:
    if not faces:
        return faces
    centre = np.array([width / 2, height / 2])
    distances = [np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre) for f in faces]
    return [faces[int(np.argmin(distances))]]


def _to_uint8(face: np.ndarray) -> np.ndarray:
    return face if face.dtype == np.uint8 else (face.astype(np.float32) / 257).round().astype(np.uint8)


def _cast_like(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    info = np.iinfo(like.dtype)
    return np.clip(np.rint(image), info.min, info.max).astype(like.dtype)


class FaceRestorePipeline:
    """Restores every face in whole pictures (or aligned face crops) with one restorer."""

    def __init__(self, restorer: Restorer, detector: FaceDetector | None, *, upscale: float = 1,
                 only_center_face: bool = False, batch_size: int | None = 4, parser: FaceParser | None = None,
                 background: BackgroundUpsampler | None = None, face_upsample: bool = False,
                 identity: Callable[[np.ndarray, np.ndarray], float] | None = None):
        """``background`` enlarges whole pictures (else a LANCZOS4 resize); ``face_upsample`` also passes
        the restored faces through it before paste-back; ``identity(crop, restored)`` (uint8 BGR faces)
        scores each face's identity drift into :attr:`RestoredPicture.identity_angles`."""
        self.restorer = restorer
        self.background = background
        self.face_upsample = face_upsample and background is not None
        self.identity = identity
        self.detector = detector
        self.parser = parser
        self.upscale = upscale
        self.only_center_face = only_center_face
        self.batches = Batches(restorer.device, batch_size, name=restorer.name)
        if restorer.device.type == "cpu":
            keep_freed_cpu_memory()  # a process-wide allocator setting: see its docstring for why

    @property
    def batch_size(self) -> int | None:
        """Faces per restorer call: as asked, or what out-of-memory halving and ``auto`` settled on."""
        return self.batches.batch_size

    def _restore_crops(self, crops: list[np.ndarray], max_value: float) -> list[np.ndarray]:
        def restore(chunk: list[np.ndarray]) -> list[np.ndarray]:
            faces = self.restorer.restore(to_tensor(chunk, max_value, self.restorer.device))
            return from_tensor(faces, max_value)

        return self.batches.map(restore, crops)

    def detect(self, picture: Picture) -> list[DetectedFace]:
        # Detectors take 8-bit BGR; 16-bit pictures are reduced for detection only.
        image = picture.bgr if picture.bgr.dtype == np.uint8 else (picture.bgr >> 8).astype(np.uint8)
        faces = [f for f in self.detector.detect(image)
                 if np.linalg.norm(f.landmarks[0] - f.landmarks[1]) >= MIN_EYE_DISTANCE]
        return _center_face(faces, *picture.size) if self.only_center_face else faces

    def prepare(self, pictures: list[Picture],
                detections: list[list[DetectedFace]] | None = None) -> PreparedBatch:
        """Detect the faces of ``pictures`` (unless ``detections`` gives them) and align each to the template."""
        started = time.perf_counter()
        results, crops, owners, affines = [], [], [], []
        for index, picture in enumerate(pictures):
            faces = detections[index] if detections is not None else self.detect(picture)
            result = RestoredPicture(picture=picture, faces=faces)
            for face in faces:
                crop, affine = align_face(picture.bgr, face.landmarks, self.restorer.face_size)
                result.crops.append(crop)
                crops.append(crop)
                owners.append(index)
                affines.append(affine)
            results.append(result)
        return PreparedBatch(results, crops, owners, affines, time.perf_counter() - started)

    def complete(self, batch: PreparedBatch) -> list[RestoredPicture]:
        """Restore every face of a prepared batch together, then paste each into its upscaled picture."""
        results, owners = batch.results, batch.owners
        pictures = [result.picture for result in results]

        # 1. Restore, grouped by bit depth (the tensors are scaled by each picture's maximum value).
        started = time.perf_counter()
        by_depth: dict[int, list[int]] = {}
        for i, owner in enumerate(owners):
            by_depth.setdefault(pictures[owner].max_value, []).append(i)
        restored: list[np.ndarray | None] = [None] * len(batch.crops)
        for max_value, indices in by_depth.items():
            for i, face in zip(indices, self._restore_crops([batch.crops[i] for i in indices], max_value)):
                restored[i] = face
        restore_seconds = time.perf_counter() - started

        # 2. Paste onto the enlarged pictures.
        started = time.perf_counter()
        canvases = [self._upscaled(picture) for picture in pictures]
        upsample_seconds = time.perf_counter() - started
        for face, owner, affine in zip(restored, owners, batch.affines):
            mask = self.parser.blend_mask(face, pictures[owner].max_value) if self.parser else None
            results[owner].restored.append(_cast_like(face, pictures[owner].bgr))
            if self.face_upsample and self.upscale > 1:
                face, affine, mask = self._upsampled_face(results[owner].restored[-1], affine, mask)
            paste_face(canvases[owner], face, affine, self.upscale, blend_mask=mask)
        paste_seconds = time.perf_counter() - started - upsample_seconds
        if self.identity is not None:
            for result in results:
                result.identity_angles = [self.identity(_to_uint8(crop), _to_uint8(face))
                                          for crop, face in zip(result.crops, result.restored)]
        count = max(len(results), 1)
        for result, canvas in zip(results, canvases):
            result.picture = self._with_pixels(result.picture, canvas)
            result.seconds = {"detect": batch.detect_seconds / count, "restore": restore_seconds / count,
                              "upscale": upsample_seconds / count, "paste": paste_seconds / count}
        return results

    def restore(self, pictures: list[Picture],
                detections: list[list[DetectedFace]] | None = None) -> list[RestoredPicture]:
        """Restore every face of every picture; pictures without faces come back only upscaled.

        ``detections`` (one list per picture) skips detection, e.g. for landmarks smoothed over video frames.
        """
        return self.complete(self.prepare(pictures, detections))

    def restore_aligned(self, pictures: list[Picture]) -> list[RestoredPicture]:
        """Pictures that already are aligned faces: resize to the backend's size, restore, return."""
        size = self.restorer.face_size
        results = []
        for picture in pictures:
            crop = picture.bgr
            if crop.shape[:2] != (size, size):
                crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
            (face,) = self._restore_crops([crop], picture.max_value)
            out = _cast_like(face, picture.bgr)
            alpha = picture.alpha
            if alpha is not None and alpha.shape[:2] != (size, size):
                alpha = cv2.resize(alpha, (size, size), interpolation=cv2.INTER_LINEAR)
            restored = Picture(out, alpha, picture.grayscale, picture.format)
            results.append(RestoredPicture(picture=restored, faces=[], crops=[crop], restored=[out]))
        return results

    def _upscaled(self, picture: Picture) -> np.ndarray:
        return enlarge_pixels(picture.bgr, enlarged_size(picture, self.upscale), self.background)

    def _upsampled_face(self, face: np.ndarray, affine: np.ndarray,
                        mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """CodeFormer's ``--face_upsample``: the restored face through the background upsampler, with the
        crop transform and blend mask scaled to its new size."""
        size = face.shape[0]
        big = round(size * self.upscale)
        face = self.background.enhance(face, (big, big))
        if mask is not None:
            mask = cv2.resize(mask, (big, big), interpolation=cv2.INTER_LINEAR)
        return face, affine * (big / size), mask

    def _with_pixels(self, picture: Picture, canvas: np.ndarray) -> Picture:
        alpha = enlarge_alpha(picture.alpha, (canvas.shape[1], canvas.shape[0]), self.background)
        return Picture(canvas, alpha, picture.grayscale, picture.format)
