"""Videos: decode with ffmpeg (imageio-ffmpeg's binary), restore, re-encode, keep the audio.

Frames are streamed, a small batch at a time, never the whole video. Landmarks are smoothed across
frames (faces matched by box overlap) so restored faces do not jitter; frames without faces pass
through untouched. The output is written under a temporary name and renamed when complete.

While one batch is restored, a look-ahead thread decodes the next batch, finds its faces and aligns them, and an
encoder thread feeds the previous one to ffmpeg.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import imageio_ffmpeg
import numpy as np

from facefix import files
from facefix.concurrency import BackgroundWorker
from facefix.errors import InputError
from facefix.face.detect import DetectedFace
from facefix.media import Picture

if TYPE_CHECKING:
    from facefix.pipeline import PreparedBatch

#: weight of the new detection when smoothing landmarks (lower = steadier, but lags fast motion)
SMOOTHING = 0.5
_MIN_OVERLAP = 0.3
_CODECS = {".webm": ("libvpx-vp9", "libopus"), ".avi": ("mpeg4", "mp3")}


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = np.maximum(a[:2], b[:2])
    x1, y1 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    return float(inter / union) if union > 0 else 0.0


class LandmarkSmoother:
    """Exponential smoothing of each face's landmarks, following faces from frame to frame."""

    def __init__(self, weight: float = SMOOTHING):
        self.weight = weight
        self.previous: list[DetectedFace] = []

    def __call__(self, faces: list[DetectedFace]) -> list[DetectedFace]:
        smoothed = []
        for face in faces:
            match = max(self.previous, key=lambda p: _overlap(p.box, face.box), default=None)
            if match is not None and _overlap(match.box, face.box) >= _MIN_OVERLAP:
                face = replace(face, landmarks=self.weight * face.landmarks + (1 - self.weight) * match.landmarks)
            smoothed.append(face)
        self.previous = smoothed
        return smoothed


def _open(path: Path):
    try:
        frames = imageio_ffmpeg.read_frames(str(path))
        meta = next(frames)
    except (RuntimeError, OSError, StopIteration) as exc:
        cause = str(exc).splitlines()[0] if str(exc) else "no frames"
        raise InputError(path, f"cannot decode this video ({cause})") from None
    return frames, meta


def _next_batch(frames, size: tuple[int, int], count: int, pipeline,
                smoother: LandmarkSmoother) -> PreparedBatch | None:
    """Decode up to ``count`` frames, find their faces and align them (None at the end). One batch at a
    time runs, so the smoother still sees every frame in order."""
    width, height = size
    batch = []
    for raw in itertools.islice(frames, count):
        rgb = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
        batch.append(Picture(np.ascontiguousarray(rgb[..., ::-1]), None, False, "frame"))
    if not batch:
        return None
    return pipeline.prepare(batch, [smoother(pipeline.detect(picture)) for picture in batch])


@dataclass
class VideoResult:
    """One restored video, as the runner reports it: faces are counted over all frames."""

    output: Path
    frames: int
    frames_with_faces: int
    face_count: int
    seconds: dict[str, float] = field(default_factory=dict)  # per stage, summed over frames; and "total"

    @property
    def status(self) -> str:
        return "restored" if self.face_count else "no-face"

    @property
    def faces(self) -> list[dict]:
        """The report's ``faces`` entry of a video: one summary, not one entry per face and frame."""
        return [{"frames": self.frames, "frames_with_faces": self.frames_with_faces, "faces": self.face_count}]


#: ``on_frames(done, total, faces)``: ``done`` frames of ``total`` (None: unknown) restored, ``faces`` found so far
FrameCallback = Callable[[int, "int | None", int], None]


def _encode(writer, pictures: list[Picture], target: Path, seconds: dict[str, float]) -> None:
    started = time.perf_counter()
    try:
        for picture in pictures:
            writer.send(np.ascontiguousarray(picture.bgr[..., ::-1]))
    except OSError as exc:  # ffmpeg quit: imageio-ffmpeg puts its error first, then the command line
        raise InputError(target, f"cannot encode this video ({str(exc).splitlines()[0]})") from None
    seconds["encode"] = seconds.get("encode", 0.0) + time.perf_counter() - started


def restore_video(path: Path, target: Path, pipeline, *, on_frames: FrameCallback | None = None,
                  frames_per_batch: int = 8, overwrite: bool = False) -> VideoResult:
    """Restore every frame of ``path`` into ``target`` (same container, fps and audio). An existing
    ``target`` is replaced only with ``overwrite`` (:class:`facefix.files.OutputExistsError`)."""
    if target.exists() and not overwrite:
        raise files.OutputExistsError(target)
    started = time.perf_counter()
    frames, meta = _open(path)
    width, height = meta["size"]
    out_size = (int(width * pipeline.upscale), int(height * pipeline.upscale))
    video_codec, audio_codec = _CODECS.get(target.suffix.lower(), ("libx264", "copy"))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = files.temp_path(target)
    writer = imageio_ffmpeg.write_frames(
        str(tmp), out_size, fps=meta["fps"], codec=video_codec, quality=8, macro_block_size=2,
        audio_path=str(path) if meta.get("audio_codec") else None,
        audio_codec=audio_codec if meta.get("audio_codec") else None,
    )
    writer.send(None)
    smoother = LandmarkSmoother()
    total = int(round(meta.get("duration", 0) * meta["fps"])) or None
    faces_found = frames_with_faces = count = 0
    seconds: dict[str, float] = {}
    try:
        # One restored batch waits for the encoder at most: that is enough to overlap, and frames are big.
        with BackgroundWorker("facefix-encode", pending=1, discard_on_error=True) as encoder, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="facefix-prepare") as lookahead:
            def read_ahead():
                return lookahead.submit(_next_batch, frames, (width, height), frames_per_batch, pipeline, smoother)

            upcoming = read_ahead()
            while (prepared := upcoming.result()) is not None:
                upcoming = read_ahead()
                results = pipeline.complete(prepared)
                encoder.submit(_encode, writer, [result.picture for result in results], target, seconds)
                faces_found += sum(len(result.faces) for result in results)
                frames_with_faces += sum(bool(result.faces) for result in results)
                count += len(results)
                for result in results:
                    for stage, spent in result.seconds.items():
                        seconds[stage] = seconds.get(stage, 0.0) + spent
                if on_frames is not None:
                    on_frames(count, total, faces_found)
        writer.close()  # only now: the generator must not be closed while the encoder thread uses it
        if count == 0:
            raise InputError(path, "the video has no frames")
        files.publish(tmp, target, overwrite=overwrite)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return VideoResult(target, count, frames_with_faces, faces_found,
                       {**seconds, "total": time.perf_counter() - started})
