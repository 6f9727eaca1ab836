"""Restore many files: map inputs to outputs, skip finished work, report each file, never overwrite.

A run can be killed at any moment and started again with the same command: outputs appear only when
complete (atomic rename), and complete outputs are skipped, so the rerun finishes the rest.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from facefix.concurrency import BackgroundWorker
from facefix.errors import FacefixError
from facefix.files import OutputExistsError, is_out_of_space, write_bytes
from facefix.media import InputFile, Picture, is_video, read_image, write_image
from facefix.pipeline import FaceRestorePipeline, PreparedBatch, RestoredPicture
from facefix.planning import (FileJob, FileReport, ImageBatch, OutputOptions, Plan, check_report_target,
                              exclude_outputs, extras_paths, output_path, plan_files)
from facefix.video import restore_video


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


#: ``handler(item, target) -> HandledFile``; any error fails that file alone (see :func:`failure_message`)
FileHandler = Callable[[InputFile, Path], HandledFile]

def failure_message(path: Path, exc: BaseException) -> str:
    """One line naming the file and the cause. Errors that stop the whole run are raised again:
    out of disk space (no later file fits either) and broken installs (no later file works either)."""
    if is_out_of_space(exc) or isinstance(exc, ImportError):
        raise exc
    if isinstance(exc, FacefixError):
        message = str(exc)
        return message if str(path) in message else f"{path}: {message}"
    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, MemoryError):
        cause = cause or "not enough memory for this file"
    return f"{path}: {type(exc).__name__}{': ' + cause if cause else ''}"


def _side_by_side(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    if before.shape[:2] != after.shape[:2]:
        before = cv2.resize(before, (after.shape[1], after.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.hstack([before, after])


def _write_extras(result: RestoredPicture, source: Picture, target: Path, stem: str, options: OutputOptions,
                  inputs: set[Path]) -> None:
    if options.save_faces:
        for i, (crop, face) in enumerate(zip(result.crops, result.restored)):
            pair = Picture(_side_by_side(crop, face), None, source.grayscale, "PNG")
            write_image(target.parent / "faces" / f"{stem}_face{i:02d}.png", pair, overwrite=options.overwrite,
                        protected=inputs)
    for compare in extras_paths(target, stem, options):
        pair = Picture(_side_by_side(source.bgr, result.picture.bgr), None, source.grayscale, "PNG")
        write_image(compare, pair, overwrite=options.overwrite, protected=inputs)


_Loaded = tuple[int, Path, Picture]


_Items = Sequence[InputFile] | Mapping[int, InputFile]  # all inputs, or (a worker's) those of one batch


def _read_and_prepare(batch: ImageBatch, items: _Items, pipeline: FaceRestorePipeline,
                      aligned: bool) -> tuple[list[_Loaded], dict[int, str], PreparedBatch | None]:
    """Decode a batch and detect its faces (runs on the look-ahead thread). A file that cannot be read
    is returned as an error so that it fails alone; when detection fails for the batch, ``None`` is
    returned as the prepared batch and each file is prepared again alone, so only the culprit fails."""
    loaded, errors = [], {}
    for index, target in batch.entries:
        try:
            loaded.append((index, target, read_image(items[index].path)))
        except Exception as exc:  # noqa: BLE001 - any error of one file is that file's error
            errors[index] = failure_message(items[index].path, exc)
    if not loaded or aligned:
        return loaded, errors, None
    try:
        return loaded, errors, pipeline.prepare([picture for _, _, picture in loaded])
    except Exception as exc:  # noqa: BLE001
        message = failure_message(items[loaded[0][0]].path, exc)
        if len(loaded) == 1:
            errors[loaded[0][0]] = message
            loaded = []
    return loaded, errors, None


def _restore_group(loaded: list[_Loaded], prepared: PreparedBatch | None, items: _Items, pipeline: FaceRestorePipeline,
                   options: OutputOptions, fail: Callable[[int, str], None]) -> list[tuple[list[_Loaded], list]]:
    """Restore pictures together; if that fails, each alone, so that only the culprit fails."""
    pictures = [picture for _, _, picture in loaded]
    try:
        if options.aligned:
            return [(loaded, pipeline.restore_aligned(pictures))]
        return [(loaded, pipeline.complete(prepared if prepared is not None else pipeline.prepare(pictures)))]
    except Exception as exc:  # noqa: BLE001
        message = failure_message(items[loaded[0][0]].path, exc)
        if len(loaded) == 1:
            fail(loaded[0][0], message)
            return []
    return [part for entry in loaded for part in _restore_group([entry], None, items, pipeline, options, fail)]


def _restore_groups(loaded: list[_Loaded], prepared: PreparedBatch | None, items: _Items, pipeline: FaceRestorePipeline,
                    options: OutputOptions, fail: Callable[[int, str], None]) -> list[tuple[list[_Loaded], list]]:
    if prepared is None and not options.aligned:  # detection failed for the batch: each file alone
        return [part for entry in loaded for part in _restore_group([entry], None, items, pipeline, options, fail)]
    return _restore_group(loaded, prepared, items, pipeline, options, fail)


def _write_file(report: FileReport, item: InputFile, result: RestoredPicture, source: Picture, target: Path,
                stem: str, options: OutputOptions, inputs: set[Path], seconds: float) -> int:
    """Write one restored file into its report; the number of faces it had."""
    try:  # detection ran on the look-ahead thread: count it in the file's total
        _write_result(report, result, source, target, stem, options, inputs,
                      seconds=seconds + result.seconds.get("detect", 0.0))
    except Exception as exc:  # noqa: BLE001 - an encoder bug fails its file, not the run
        report.status, report.error = "failed", failure_message(item.path, exc)
    return len(result.faces) or int(options.aligned)


def restore_batch(batch: ImageBatch, items: Mapping[int, InputFile], pipeline: FaceRestorePipeline,
                  options: OutputOptions) -> list[tuple[int, FileReport, int]]:
    """One planned batch from start to finish on this thread: ``(index, report, faces)`` of each file.

    What a worker of another engine runs (see :mod:`facefix.engines`); the files fail alone, as in
    :func:`restore_files`, and each output is written atomically."""
    reports = {index: FileReport(input=str(items[index].path)) for index, _ in batch.entries}
    inputs = {items[index].path.resolve() for index, _ in batch.entries}
    faces: dict[int, int] = {}

    def fail(index: int, message: str) -> None:
        reports[index].status, reports[index].error = "failed", message

    loaded, errors, prepared = _read_and_prepare(batch, items, pipeline, options.aligned)
    for index, message in errors.items():
        fail(index, message)
    if loaded:
        started = time.perf_counter()
        groups = _restore_groups(loaded, prepared, items, pipeline, options, fail)
        seconds = (time.perf_counter() - started) / len(loaded)
        for group, results in groups:
            for (index, target, source), result in zip(group, results):
                faces[index] = _write_file(reports[index], items[index], result, source, target, batch.stems[index],
                                           options, inputs, seconds)
    return [(index, reports[index], faces.get(index, 0)) for index, _ in batch.entries]


def run_file_job(job: FileJob, handler: FileHandler, report: FileReport) -> None:
    """Hand one file to ``handler`` and fill ``report`` with the outcome: any error fails this file alone,
    and an output another run wrote meanwhile is kept (``skipped-existing``). Every engine runs file jobs so."""
    try:
        result = handler(job.item, job.target)
    except OutputExistsError:
        report.status, report.output = "skipped-existing", str(job.target)
    except Exception as exc:  # noqa: BLE001 - a broken video (or job) fails alone
        report.status, report.error = "failed", failure_message(job.item.path, exc)
    else:
        report.output, report.status = str(result.output), result.status
        report.faces, report.seconds = list(result.faces), dict(result.seconds)
        report.frames = getattr(result, "frames", None)


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

    Any error of one file (unreadable, a detector or model failure, out of memory, a broken video, an
    output that cannot be written) is that file's error and the run goes on; only Ctrl-C, a full disk
    and a broken install stop it. An output that another run wrote meanwhile is left alone
    (``skipped-existing``).

    ``on_file_done(report, faces)`` is called after each file (for progress bars), never twice at the
    same time, but not always from the calling thread. While one batch of images is restored, a
    second thread already decodes the next batch and detects its faces, and a third encodes and
    writes the previous one. Every output is written (or has failed) when this returns.
    """
    plan = plan_files(items, options, images_per_batch=images_per_batch,
                      videos=video_handler is not None or pipeline is not None, whole_files=file_handler is not None)
    reports, jobs = plan.reports, plan.jobs
    inputs = {item.path.resolve() for item in items}
    one_at_a_time = threading.Lock()

    def done(index: int, faces: int = 0) -> None:
        # The writer thread reports its files too; the lock spares callbacks their own locking.
        if on_file_done:
            with one_at_a_time:
                on_file_done(reports[index], faces)

    def fail(index: int, message: str) -> None:
        reports[index].status, reports[index].error = "failed", message
        done(index)

    # 1. Planned: skipped and misdirected files are settled already.
    for index in plan.settled:
        done(index)

    def write(batch: ImageBatch, loaded: list[_Loaded], results: list[RestoredPicture], seconds: float) -> None:
        for (index, target, source), result in zip(loaded, results):
            done(index, _write_file(reports[index], items[index], result, source, target, batch.stems[index],
                                    options, inputs, seconds))

    def finish(writer: BackgroundWorker, batch: ImageBatch, loaded: list[_Loaded], errors: dict[int, str],
               prepared: PreparedBatch | None) -> None:
        for index, message in errors.items():
            fail(index, message)
        if not loaded:
            return
        started = time.perf_counter()
        groups = _restore_groups(loaded, prepared, items, pipeline, options, fail)
        seconds = (time.perf_counter() - started) / len(loaded)
        for group, results in groups:
            writer.submit(write, batch, group, results, seconds)

    def video(item: InputFile, target: Path) -> HandledFile:
        def frames(count: int, total: int | None, faces: int) -> None:
            if on_frames is not None:
                on_frames(item, count, total, faces)

        return restore_video(item.path, target, pipeline, on_frames=frames, overwrite=options.overwrite)

    def handle(job: FileJob) -> None:
        handler = (video_handler or video) if is_video(job.item.path) else file_handler
        run_file_job(job, handler, reports[job.index])
        done(job.index, reports[job.index].face_count)

    # 2. Run them: while image batch k is restored, batch k + 1 is decoded and its faces detected, and
    #    batch k - 1 is encoded and written. Leaving the block waits for the writes, even on an exception.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="facefix-prepare") as lookahead, \
            BackgroundWorker("facefix-write") as writer:
        upcoming: Future | None = None
        for position, job in enumerate(jobs):
            if isinstance(job, FileJob):
                handle(job)
                continue
            current = upcoming or lookahead.submit(_read_and_prepare, job, items, pipeline, options.aligned)
            following = jobs[position + 1] if position + 1 < len(jobs) else None
            upcoming = (lookahead.submit(_read_and_prepare, following, items, pipeline, options.aligned)
                        if isinstance(following, ImageBatch) else None)
            finish(writer, job, *current.result())
    return reports


def _write_result(report: FileReport, result: RestoredPicture, source: Picture, target: Path, stem: str,
                  options: OutputOptions, inputs: set[Path], *, seconds: float) -> None:
    report.faces = [face.to_json() for face in result.faces]
    for entry, angle in zip(report.faces, result.identity_angles):  # with --report-identity
        entry["identity_angle"] = round(angle, 3)
    report.seconds = {**result.seconds, "total": seconds}
    if not options.aligned and not result.faces and options.skip_no_face:
        report.status = "no-face"
        return
    started = time.perf_counter()
    try:
        written = write_image(target, result.picture, like=source, overwrite=options.overwrite, protected=inputs)
        report.output = str(written)
        _write_extras(result, source, target, stem, options, inputs)
        report.status = "restored" if (result.faces or options.aligned) else "no-face"
    except OutputExistsError as exc:
        if exc.path != target:  # an extra (compare image) appeared meanwhile
            report.status, report.error = "failed", str(exc)
        else:  # another run wrote this output meanwhile: its file stays
            report.status, report.output = "skipped-existing", str(target)
    except FacefixError as exc:
        if is_out_of_space(exc):
            raise
        report.status, report.error = "failed", str(exc)
    report.seconds["write"] = time.perf_counter() - started
    report.seconds["total"] += report.seconds["write"]


def write_report(path: Path, reports: list[FileReport], *, overwrite: bool = False,
                 inputs: set[Path] = frozenset(), settings: dict | None = None) -> Path:
    """``settings``: how the run was made (backend, the precision chosen), stored beside the files."""
    summary: dict[str, int] = {status: sum(r.status == status for r in reports)
                               for status in ("restored", "no-face", "skipped-existing", "failed")}
    summary["faces"] = sum(report.face_count for report in reports)
    summary["frames"] = sum(report.frames or 0 for report in reports)
    payload = {**({"settings": settings} if settings else {}), "files": [report.__dict__ for report in reports],
               "summary": summary}
    # neither an input nor an image this run made is replaced by the report, even with --overwrite
    made = {Path(report.output).resolve() for report in reports if report.output}
    return write_bytes(path, json.dumps(payload, indent=2), overwrite=overwrite, protected=set(inputs) | made)


__all__ = ["FileHandler", "FileJob", "FileOutcome", "FileReport", "HandledFile", "ImageBatch", "OutputOptions", "Plan",
           "check_report_target", "exclude_outputs", "failure_message", "output_path", "plan_files", "restore_batch",
           "restore_files", "run_file_job", "write_report"]
