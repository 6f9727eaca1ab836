"""Restore many files: map inputs to outputs, skip finished work, report each file, never overwrite.

A run can be killed at any moment and started again with the same command: outputs appear only when
complete (atomic rename), and complete outputs are skipped, so the rerun finishes the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from facefix.errors import FacefixError, InputError
from facefix.media import InputFile, Picture, is_video, read_image, write_image
from facefix.pipeline import FaceRestorePipeline, RestoredPicture

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


def restore_files(items: list[InputFile], pipeline: FaceRestorePipeline, options: OutputOptions, *,
                  images_per_batch: int = 4, on_file_done: Callable[[FileReport, int], None] | None = None,
                  video_handler: Callable[[InputFile, Path, FileReport], None] | None = None) -> list[FileReport]:
    """Restore ``items`` into ``options.output_dir``; one :class:`FileReport` per input, in order.

    ``on_file_done(report, faces)`` is called after each file (for progress bars).
    """
    inputs = {item.path.resolve() for item in items}
    claimed: dict[Path, Path] = {}
    reports = [FileReport(input=str(item.path)) for item in items]
    pending: list[tuple[int, Picture, Path]] = []

    def done(index: int, faces: int = 0) -> None:
        if on_file_done:
            on_file_done(reports[index], faces)

    def flush() -> None:
        if not pending:
            return
        started = time.perf_counter()
        pictures = [picture for _, picture, _ in pending]
        try:
            results = (pipeline.restore_aligned(pictures) if options.aligned else pipeline.restore(pictures))
        except FacefixError as exc:
            for index, _, _ in pending:
                reports[index].status, reports[index].error = "failed", str(exc)
                done(index)
            pending.clear()
            return
        for (index, source, target), result in zip(pending, results):
            report = reports[index]
            report.faces = [face.to_json() for face in result.faces]
            report.seconds = {**result.seconds, "total": (time.perf_counter() - started) / len(pending)}
            try:
                if not options.aligned and not result.faces and options.skip_no_face:
                    report.status = "no-face"
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_image(target, result.picture)
                    _write_extras(result, source, target, options)
                    report.output = str(target)
                    report.status = "restored" if (result.faces or options.aligned) else "no-face"
            except FacefixError as exc:
                report.status, report.error = "failed", str(exc)
            done(index, len(result.faces) or int(options.aligned))
        pending.clear()

    for index, item in enumerate(items):
        report = reports[index]
        try:
            target = output_path(item, options)
            _check_destination(item, target, inputs, claimed)
            if target.exists() and not options.overwrite:
                report.status, report.output = "skipped-existing", str(target)
                done(index)
                continue
            if is_video(item.path):
                if video_handler is None:
                    raise InputError(item.path, "videos are not supported by this command")
                flush()
                video_handler(item, target, report)
                done(index, len(report.faces))
                continue
            pending.append((index, read_image(item.path), target))
        except FacefixError as exc:
            report.status, report.error = "failed", str(exc)
            done(index)
            continue
        if len(pending) >= images_per_batch:
            flush()
    flush()
    return reports


def write_report(path: Path, reports: list[FileReport]) -> None:
    payload = {"files": [report.__dict__ for report in reports],
               "summary": {status: sum(r.status == status for r in reports)
                           for status in ("restored", "no-face", "skipped-existing", "failed")}}
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)
