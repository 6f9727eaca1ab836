"""Restore many files: map inputs to outputs, skip finished work, report each file, never overwrite.

A run can be killed at any moment and started again with the same command: outputs appear only when
complete (atomic rename), and complete outputs are skipped, so the rerun finishes the rest.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from facefix.concurrency import BackgroundWorker
from facefix.errors import FacefixError, InputError
from facefix.media import InputFile, Picture, is_video, read_image, write_image
from facefix.pipeline import FaceRestorePipeline, PreparedBatch, RestoredPicture
from facefix.video import restore_video

_FORMAT_EXTENSIONS = {"auto": None, "png": ".png", "jpg": ".jpg"}


@dataclass(frozen=True)
class OutputOptions:
    output_dir: Path
    ext: str = "auto"
    suffix: str = ""
    overwrite: bool = False
    save_faces: bool = False
    compare: bool = False
    skip_no_face: bool = False
    aligned: bool = False


@dataclass
class FileReport:
    input: str
    output: str | None = None
    status: str = "pending"  # restored | no-face | skipped-existing | failed
    faces: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    frames: int | None = None  # videos only

    @property
    def face_count(self) -> int:
        """Faces restored: over all frames of a video."""
        if self.frames is not None:
            return sum(entry.get("faces", 0) for entry in self.faces)
        return len(self.faces)


class HandledFile(Protocol):
    """What a per-file handler (a video, an inpainting job) returns, having written its output itself."""

    output: Path
    status: str  # restored | no-face
    faces: list[dict]
    seconds: dict[str, float]


@dataclass
class FileOutcome:
    """A :class:`HandledFile` for handlers that need nothing more."""

    output: Path
    status: str
    faces: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


#: ``handler(item, target) -> HandledFile``; a FacefixError fails that file alone
FileHandler = Callable[[InputFile, Path], HandledFile]


def output_path(item: InputFile, options: OutputOptions) -> Path:
    ext = _FORMAT_EXTENSIONS[options.ext] or item.path.suffix.lower()
    if is_video(item.path):
        ext = item.path.suffix.lower()
    relative = item.relative.with_name(f"{item.relative.stem}{options.suffix}{ext}")
    return options.output_dir / relative


def _check_destination(item: InputFile, target: Path, inputs: set[Path], claimed: dict[Path, Path]) -> None:
    if target.resolve() in inputs:
        raise InputError(item.path, f"output {target} would overwrite an input; use another -o or --suffix")
    if target in claimed:
        raise InputError(item.path, f"output {target} is already the output of {claimed[target]}")
    claimed[target] = item.path


def _side_by_side(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    if before.shape[:2] != after.shape[:2]:
        before = cv2.resize(before, (after.shape[1], after.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.hstack([before, after])


def _write_extras(result: RestoredPicture, source: Picture, target: Path, options: OutputOptions) -> None:
    stem = target.stem
    if options.save_faces:
        faces_dir = target.parent / "faces"
        faces_dir.mkdir(parents=True, exist_ok=True)
        for i, (crop, face) in enumerate(zip(result.crops, result.restored)):
            pair = Picture(_side_by_side(crop, face), None, source.grayscale, "PNG")
            write_image(faces_dir / f"{stem}_face{i:02d}.png", pair)
    if options.compare:
        compare_dir = target.parent / "compare"
        compare_dir.mkdir(parents=True, exist_ok=True)
        pair = Picture(_side_by_side(source.bgr, result.picture.bgr), None, source.grayscale, "PNG")
        write_image(compare_dir / f"{stem}.png", pair)


@dataclass
class _ImageBatch:
    """Images restored together: (index into the reports, output path) of each."""

    entries: list[tuple[int, Path]]


@dataclass
class _FileJob:
    """A file handled on its own (a video, or any file when the caller gives a file handler)."""

    index: int
    item: InputFile
    target: Path
    handler: FileHandler


def _read_and_prepare(batch: _ImageBatch, items: list[InputFile], pipeline: FaceRestorePipeline,
                      aligned: bool) -> tuple[list[tuple[int, Path, Picture]], dict[int, str], PreparedBatch | None]:
    """Decode a batch and detect its faces (runs on the look-ahead thread); unreadable files are
    returned as errors so that they fail alone."""
    loaded, errors = [], {}
    for index, target in batch.entries:
        try:
            loaded.append((index, target, read_image(items[index].path)))
        except FacefixError as exc:
            errors[index] = str(exc)
    prepared = None
    if loaded and not aligned:
        try:
            prepared = pipeline.prepare([picture for _, _, picture in loaded])
        except FacefixError as exc:
            errors.update({index: str(exc) for index, _, _ in loaded})
            loaded = []
    return loaded, errors, prepared


def restore_files(items: list[InputFile], pipeline: FaceRestorePipeline | None, options: OutputOptions, *,
                  images_per_batch: int = 4, on_file_done: Callable[[FileReport, int], None] | None = None,
                  on_frames: Callable[[InputFile, int, int | None, int], None] | None = None,
                  video_handler: FileHandler | None = None,
                  file_handler: FileHandler | None = None) -> list[FileReport]:
    """Restore ``items`` into ``options.output_dir``; one :class:`FileReport` per input, in order.

    Images go through ``pipeline`` in batches; videos through :func:`~facefix.video.restore_video` with
    the same pipeline (or ``video_handler``), reporting ``on_frames(item, done, total, faces)``. With a
    ``file_handler`` (``facefix inpaint``), every file that is no video is handed to it instead. Either
    way the runner maps inputs to outputs, skips finished work, refuses to overwrite inputs, and reports.

    ``on_file_done(report, faces)`` is called after each file (for progress bars), never twice at the
    same time, but not always from the calling thread. While one batch of images is restored, a
    second thread already decodes the next batch and detects its faces, and a third encodes and
    writes the previous one. Every output is written (or has failed) when this returns.
    """
    inputs = {item.path.resolve() for item in items}
    claimed: dict[Path, Path] = {}
    reports = [FileReport(input=str(item.path)) for item in items]
    one_at_a_time = threading.Lock()

    def done(index: int, faces: int = 0) -> None:
        # The writer thread reports its files too; the lock spares callbacks their own locking.
        if on_file_done:
            with one_at_a_time:
                on_file_done(reports[index], faces)

    def fail(index: int, message: str) -> None:
        reports[index].status, reports[index].error = "failed", message
        done(index)

    def video(item: InputFile, target: Path) -> HandledFile:
        def frames(count: int, total: int | None, faces: int) -> None:
            if on_frames is not None:
                on_frames(item, count, total, faces)

        return restore_video(item.path, target, pipeline, on_frames=frames)

    def handle(job: _FileJob) -> None:
        report = reports[job.index]
        try:
            result = job.handler(job.item, job.target)
        except FacefixError as exc:
            fail(job.index, str(exc))
            return
        report.output, report.status = str(result.output), result.status
        report.faces, report.seconds = list(result.faces), dict(result.seconds)
        report.frames = getattr(result, "frames", None)
        done(job.index, report.face_count)

    # 1. Decide what each input needs, in order: skipped and misdirected files are settled here.
    jobs: list[_ImageBatch | _FileJob] = []
    for index, item in enumerate(items):
        try:
            target = output_path(item, options)
            _check_destination(item, target, inputs, claimed)
        except FacefixError as exc:
            fail(index, str(exc))
            continue
        if target.exists() and not options.overwrite:
            reports[index].status, reports[index].output = "skipped-existing", str(target)
            done(index)
        elif is_video(item.path):
            if video_handler is None and pipeline is None:
                fail(index, str(InputError(item.path, "videos are not supported by this command")))
            else:
                jobs.append(_FileJob(index, item, target, video_handler or video))
        elif file_handler is not None:
            jobs.append(_FileJob(index, item, target, file_handler))
        else:
            if not jobs or not isinstance(jobs[-1], _ImageBatch) or len(jobs[-1].entries) >= images_per_batch:
                jobs.append(_ImageBatch([]))
            jobs[-1].entries.append((index, target))

    def write(loaded: list[tuple[int, Path, Picture]], results: list[RestoredPicture], seconds: float) -> None:
        for (index, target, source), result in zip(loaded, results):
            # Detection ran on the look-ahead thread: count it in the file's total.
            _write_result(reports[index], result, source, target, options,
                          seconds=seconds + result.seconds.get("detect", 0.0))
            done(index, len(result.faces) or int(options.aligned))

    def finish(writer: BackgroundWorker, loaded: list[tuple[int, Path, Picture]], errors: dict[int, str],
               prepared: PreparedBatch | None) -> None:
        for index, message in errors.items():
            fail(index, message)
        if not loaded:
            return
        started = time.perf_counter()
        try:
            results = (pipeline.restore_aligned([picture for _, _, picture in loaded]) if options.aligned
                       else pipeline.complete(prepared))
        except FacefixError as exc:
            for index, _, _ in loaded:
                fail(index, str(exc))
            return
        writer.submit(write, loaded, results, (time.perf_counter() - started) / len(loaded))

    # 2. Run them: while image batch k is restored, batch k + 1 is decoded and its faces detected, and
    #    batch k - 1 is encoded and written. Leaving the block waits for the writes, even on an exception.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="facefix-prepare") as lookahead, \
            BackgroundWorker("facefix-write") as writer:
        upcoming: Future | None = None
        for position, job in enumerate(jobs):
            if isinstance(job, _FileJob):
                handle(job)
                continue
            current = upcoming or lookahead.submit(_read_and_prepare, job, items, pipeline, options.aligned)
            following = jobs[position + 1] if position + 1 < len(jobs) else None
            upcoming = (lookahead.submit(_read_and_prepare, following, items, pipeline, options.aligned)
                        if isinstance(following, _ImageBatch) else None)
            finish(writer, *current.result())
    return reports


def _write_result(report: FileReport, result: RestoredPicture, source: Picture, target: Path,
                  options: OutputOptions, *, seconds: float) -> None:
    report.faces = [face.to_json() for face in result.faces]
    report.seconds = {**result.seconds, "total": seconds}
    if not options.aligned and not result.faces and options.skip_no_face:
        report.status = "no-face"
        return
    started = time.perf_counter()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_image(target, result.picture)
        _write_extras(result, source, target, options)
        report.output = str(target)
        report.status = "restored" if (result.faces or options.aligned) else "no-face"
    except FacefixError as exc:
        report.status, report.error = "failed", str(exc)
    report.seconds["write"] = time.perf_counter() - started
    report.seconds["total"] += report.seconds["write"]


def write_report(path: Path, reports: list[FileReport]) -> None:
    summary: dict[str, int] = {status: sum(r.status == status for r in reports)
                               for status in ("restored", "no-face", "skipped-existing", "failed")}
    summary["faces"] = sum(report.face_count for report in reports)
    summary["frames"] = sum(report.frames or 0 for report in reports)
    payload = {"files": [report.__dict__ for report in reports], "summary": summary}
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)
