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

import cv2
import numpy as np

from facefix.concurrency import BackgroundWorker
from facefix.errors import FacefixError, InputError
from facefix.files import OutputExistsError, fit_name, is_out_of_space, write_bytes
from facefix.media import InputFile, Picture, is_video, read_image, write_image
from facefix.pipeline import FaceRestorePipeline, PreparedBatch, RestoredPicture

_FORMAT_EXTENSIONS = {"auto": None, "png": ".png", "jpg": ".jpg"}
_EXTRAS_FOLDERS = ("faces", "compare")


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


def output_path(item: InputFile, options: OutputOptions) -> Path:
    ext = _FORMAT_EXTENSIONS[options.ext] or item.path.suffix.lower()
    if is_video(item.path):
        ext = item.path.suffix.lower()
    relative = item.relative.with_name(f"{item.relative.stem}{options.suffix}{ext}")
    return fit_name(options.output_dir / relative)


def _input_root(item: InputFile) -> Path:
    """The folder ``item`` was found in (its ``relative`` path starts there)."""
    path = item.path.resolve()
    return path.parents[len(item.relative.parts) - 1]


def exclude_outputs(items: list[InputFile], options: OutputOptions) -> list[InputFile]:
    """The inputs that are not outputs: an output folder inside an input folder is not walked, and with
    ``-o`` the input folder itself, earlier outputs (``01_fixed.jpg`` next to ``01.jpg``) are not inputs."""
    out = options.output_dir.resolve()
    planned = {output_path(item, options).resolve(): item.path.resolve() for item in items}
    kept = []
    for item in items:
        path, root = item.path.resolve(), _input_root(item)
        # only a suffixed name is surely an earlier output: without a suffix (``--ext png`` next to a.jpg) a.png
        # may be the user's own photo, which stays an input and so is never replaced
        made_by_another = bool(options.suffix) and path in planned and planned[path] != path
        in_output_folder = out != root and root in out.parents and out in path.parents
        in_extras = (out == root or root in out.parents) and any(out / name in path.parents for name in _EXTRAS_FOLDERS)
        if not (made_by_another or in_output_folder or in_extras):
            kept.append(item)
    return kept


def check_report_target(path: Path, items: list[InputFile], *, overwrite: bool) -> None:
    """Refuse, before any work, a ``--report`` file that is an input, or that exists (without --overwrite)."""
    if path.resolve() in {item.path.resolve() for item in items}:
        raise InputError(path, "--report would replace an input of this run; choose another file")
    if path.exists() and not overwrite:
        raise OutputExistsError(path, "already exists; --report never replaces a file (use --overwrite)")
    if path.is_dir():
        raise InputError(path, "--report needs a file name, not a folder")


def _extras_stems(targets: list[Path]) -> dict[Path, str]:
    """Names for the faces/compare images of each output: its stem, unless two outputs of one folder
    share a stem (``a.jpg`` and ``a.png``), then stem and extension."""
    groups: dict[tuple[Path, str], list[Path]] = {}
    for target in targets:
        groups.setdefault((target.parent, target.stem), []).append(target)
    return {target: target.stem if len(group) == 1 else f"{target.stem}_{target.suffix.lstrip('.')}"
            for group in groups.values() for target in group}


def _check_destination(item: InputFile, target: Path, inputs: set[Path], claimed: dict[Path, Path]) -> None:
    if target.resolve() in inputs:
        raise InputError(item.path, f"output {target} would overwrite an input; use another -o or --suffix")
    if target in claimed:
        raise InputError(item.path, f"output {target} is already the output of {claimed[target]}")
    claimed[target] = item.path


def _extras_paths(target: Path, stem: str, options: OutputOptions) -> list[Path]:
    return [target.parent / "compare" / f"{stem}.png"] if options.compare else []


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
    for compare in _extras_paths(target, stem, options):
        pair = Picture(_side_by_side(source.bgr, result.picture.bgr), None, source.grayscale, "PNG")
        write_image(compare, pair, overwrite=options.overwrite, protected=inputs)


@dataclass
class _ImageBatch:
    """Images restored together: (index into the reports, output path) of each."""

    entries: list[tuple[int, Path]]


@dataclass
class _VideoJob:
    index: int
    item: InputFile
    target: Path


_Loaded = tuple[int, Path, Picture]


def _read_and_prepare(batch: _ImageBatch, items: list[InputFile], pipeline: FaceRestorePipeline,
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


def restore_files(items: list[InputFile], pipeline: FaceRestorePipeline, options: OutputOptions, *,
                  images_per_batch: int = 4, on_file_done: Callable[[FileReport, int], None] | None = None,
                  video_handler: Callable[[InputFile, Path, FileReport], None] | None = None) -> list[FileReport]:
    """Restore ``items`` into ``options.output_dir``; one :class:`FileReport` per input, in order.

    Any error of one file (unreadable, a detector or model failure, out of memory, a broken video, an
    output that cannot be written) is that file's error and the run goes on; only Ctrl-C, a full disk
    and a broken install stop it. An output that another run wrote meanwhile is left alone
    (``skipped-existing``).

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

    # 1. Decide what each input needs, in order: skipped and misdirected files are settled here.
    targets = [output_path(item, options) for item in items]
    stems = _extras_stems(targets)
    jobs: list[_ImageBatch | _VideoJob] = []
    for index, (item, target) in enumerate(zip(items, targets)):
        try:
            _check_destination(item, target, inputs, claimed)
        except FacefixError as exc:
            fail(index, str(exc))
            continue
        if target.exists() and not options.overwrite:
            reports[index].status, reports[index].output = "skipped-existing", str(target)
            done(index)
            continue
        taken = [extra for extra in _extras_paths(target, stems[target], options) if extra.exists()]
        if taken and not options.overwrite:
            fail(index, str(OutputExistsError(taken[0])))
        elif is_video(item.path):
            if video_handler is None:
                fail(index, str(InputError(item.path, "videos are not supported by this command")))
            else:
                jobs.append(_VideoJob(index, item, target))
        else:
            if not jobs or not isinstance(jobs[-1], _ImageBatch) or len(jobs[-1].entries) >= images_per_batch:
                jobs.append(_ImageBatch([]))
            jobs[-1].entries.append((index, target))

    def write(loaded: list[_Loaded], results: list[RestoredPicture], seconds: float) -> None:
        for (index, target, source), result in zip(loaded, results):
            # Detection ran on the look-ahead thread: count it in the file's total.
            try:
                _write_result(reports[index], result, source, target, stems[target], options, inputs,
                              seconds=seconds + result.seconds.get("detect", 0.0))
            except Exception as exc:  # noqa: BLE001 - an encoder bug fails its file, not the run
                reports[index].status, reports[index].error = "failed", failure_message(items[index].path, exc)
            done(index, len(result.faces) or int(options.aligned))

    def restore_group(loaded: list[_Loaded], prepared: PreparedBatch | None) -> list[tuple[list[_Loaded], list]]:
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
        return [part for entry in loaded for part in restore_group([entry], None)]

    def finish(writer: BackgroundWorker, loaded: list[_Loaded], errors: dict[int, str],
               prepared: PreparedBatch | None) -> None:
        for index, message in errors.items():
            fail(index, message)
        if not loaded:
            return
        started = time.perf_counter()
        if prepared is None and not options.aligned:  # detection failed for the batch: each file alone
            groups = [part for entry in loaded for part in restore_group([entry], None)]
        else:
            groups = restore_group(loaded, prepared)
        seconds = (time.perf_counter() - started) / len(loaded)
        for group, results in groups:
            writer.submit(write, group, results, seconds)

    def run_video(job: _VideoJob) -> None:
        try:
            video_handler(job.item, job.target, reports[job.index])
        except OutputExistsError:
            reports[job.index].status, reports[job.index].output = "skipped-existing", str(job.target)
        except Exception as exc:  # noqa: BLE001 - a broken video fails alone
            reports[job.index].status = "failed"
            reports[job.index].error = failure_message(job.item.path, exc)
        done(job.index, len(reports[job.index].faces))

    # 2. Run them: while image batch k is restored, batch k + 1 is decoded and its faces detected, and
    #    batch k - 1 is encoded and written. Leaving the block waits for the writes, even on an exception.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="facefix-prepare") as lookahead, \
            BackgroundWorker("facefix-write") as writer:
        upcoming: Future | None = None
        for position, job in enumerate(jobs):
            if isinstance(job, _VideoJob):
                run_video(job)
                continue
            current = upcoming or lookahead.submit(_read_and_prepare, job, items, pipeline, options.aligned)
            following = jobs[position + 1] if position + 1 < len(jobs) else None
            upcoming = (lookahead.submit(_read_and_prepare, following, items, pipeline, options.aligned)
                        if isinstance(following, _ImageBatch) else None)
            finish(writer, *current.result())
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
    payload = {**({"settings": settings} if settings else {}), "files": [report.__dict__ for report in reports],
               "summary": {status: sum(r.status == status for r in reports)
                           for status in ("restored", "no-face", "skipped-existing", "failed")}}
    # neither an input nor an image this run made is replaced by the report, even with --overwrite
    made = {Path(report.output).resolve() for report in reports if report.output}
    return write_bytes(path, json.dumps(payload, indent=2), overwrite=overwrite, protected=set(inputs) | made)
