"""Plan a run before anything is written: each input's output, what is skipped, what fails at once,
and the batches the rest is restored in. Every engine (local or Ray) plans with :func:`plan_files`, so
they all write the same files to the same places under the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from facefix.errors import FacefixError, InputError
from facefix.files import OutputExistsError, fit_name
from facefix.media import InputFile, is_video

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
    frames: int | None = None  # videos only

    @property
    def face_count(self) -> int:
        """Faces restored: over all frames of a video."""
        if self.frames is not None:
            return sum(entry.get("faces", 0) for entry in self.faces)
        return len(self.faces)


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


def extras_paths(target: Path, stem: str, options: OutputOptions) -> list[Path]:
    return [target.parent / "compare" / f"{stem}.png"] if options.compare else []


@dataclass
class ImageBatch:
    """Images restored together: (index into the reports, output path) of each, and the name of each
    output's faces/compare images."""

    entries: list[tuple[int, Path]]
    stems: dict[int, str] = field(default_factory=dict)


@dataclass
class FileJob:
    """A file handled on its own: a video, or any file of a command that handles whole files (inpaint)."""

    index: int
    item: InputFile
    target: Path


@dataclass
class Plan:
    """What each input needs: files settled while planning (skipped, or failed: ``settled``, in order)
    already have their final report; the others wait in ``jobs``, images grouped into batches."""

    reports: list[FileReport]
    jobs: list[ImageBatch | FileJob]
    settled: list[int]


def plan_files(items: list[InputFile], options: OutputOptions, *, images_per_batch: int,
               videos: bool = True, whole_files: bool = False) -> Plan:
    """Map each input to its output: refuse outputs that would overwrite an input or another output (or
    whose compare image exists), skip existing outputs (unless ``--overwrite``), group images in batches
    (or, with ``whole_files``, hand each image over on its own as videos are)."""
    inputs = {item.path.resolve() for item in items}
    claimed: dict[Path, Path] = {}
    targets = [output_path(item, options) for item in items]
    stems = _extras_stems(targets)
    plan = Plan([FileReport(input=str(item.path)) for item in items], [], [])

    def settle(index: int, status: str, *, output: Path | None = None, error: str | None = None) -> None:
        report = plan.reports[index]
        report.status, report.output, report.error = status, output and str(output), error
        plan.settled.append(index)

    for index, (item, target) in enumerate(zip(items, targets)):
        try:
            _check_destination(item, target, inputs, claimed)
        except FacefixError as exc:
            settle(index, "failed", error=str(exc))
            continue
        if target.exists() and not options.overwrite:
            settle(index, "skipped-existing", output=target)
            continue
        taken = [extra for extra in extras_paths(target, stems[target], options) if extra.exists()]
        if taken and not options.overwrite:
            settle(index, "failed", error=str(OutputExistsError(taken[0])))
        elif is_video(item.path):
            if videos:
                plan.jobs.append(FileJob(index, item, target))
            else:
                settle(index, "failed", error=str(InputError(item.path, "videos are not supported by this command")))
        elif whole_files:
            plan.jobs.append(FileJob(index, item, target))
        else:
            jobs = plan.jobs
            if not jobs or not isinstance(jobs[-1], ImageBatch) or len(jobs[-1].entries) >= images_per_batch:
                jobs.append(ImageBatch([]))
            jobs[-1].entries.append((index, target))
            jobs[-1].stems[index] = stems[target]
    return plan
