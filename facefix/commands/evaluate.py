"""`facefix eval`: restore (or inpaint) an evaluation set and report the papers' metrics beside theirs."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from facefix.commands.background import DEFAULT_TILE, BgTileOpt, BgUpsamplerOpt, BgWeightsOpt
from facefix.commands.options import (AutoBatchSizeOpt, Detector, DetectorOpt, DetectorWeightsOpt, Device, DeviceOpt,
                                      MaxMegapixelsOpt, Precision, PrecisionOpt, WeightsOpt, renamed)
from facefix.commands.hints import load_model
from facefix.commands.progress import StepBar
from facefix.console import info, warn
from facefix.errors import FacefixError
from facefix.limits import DEFAULT_MEGAPIXELS
from facefix.quality.metric_table import METRICS, NIQE_BLOCK

if TYPE_CHECKING:  # the evaluation modules (torch, cv2, the backends) load when eval runs, not with --help
    from facefix.eval import fid
    from facefix.eval.runner import Sample


class Task(str, Enum):
    restore = "restore"
    inpaint = "inpaint"


DEFAULT_BACKEND = {Task.restore: "fusion", Task.inpaint: "ddpm"}
DEFAULT_METRICS = {Task.restore: "psnr,ssim,niqe", Task.inpaint: "psnr,ssim"}
INPAINTING, WHOLE_PHOTOS, FID, OUTPUTS = "Inpainting", "Whole photos", "FID", "Outputs"


#: why a metric can leave an image unscored (NaN)
_UNSCORED_BECAUSE = {"niqe": f"NIQE needs images of at least 2 x {NIQE_BLOCK} px",
                     "ids": "the identity angle needs a face found in the photo"}


def _unscored(per_image: dict[str, dict[str, float]], names: list[str]) -> tuple[list[str], list[str]]:
    """(metrics no image was scored on, metrics some images were not scored on), each as a sentence."""
    empty, partial = [], []
    for name in names:
        values = [scores[name] for scores in per_image.values() if name in scores]
        if not values or name not in _UNSCORED_BECAUSE:
            continue
        scored = sum(not math.isnan(value) for value in values)
        if scored < len(values):
            (empty if scored == 0 else partial).append(
                f"{_UNSCORED_BECAUSE[name]}: {scored} of {len(values)} scored")
    return empty, partial


def _option(flag: str, panel: str, help_text: str, **kwargs):
    return typer.Option(flag, help=help_text, rich_help_panel=panel, **kwargs)


def _paper_numbers(backend: str):
    """Every number ``backend``'s papers print (from its row of the backend table)."""
    from facefix.backends import paper_rows
    from facefix.eval.paper import numbers_from_rows

    return numbers_from_rows(backend, paper_rows(backend))


def _paper_set(dataset: str, folder: Path, declared: str | None) -> str | None:
    """The published set whose paper numbers apply: declared, named, or the cached copy of a known set."""
    from facefix.backends import BACKENDS
    from facefix.eval.datasets import DATASETS, dataset_dir

    paper_sets = {number.dataset for name in BACKENDS for number in _paper_numbers(name)}

    if declared is not None:
        if declared not in paper_sets:
            raise FacefixError(f"--paper-set {declared}: the papers report on {', '.join(sorted(paper_sets))}")
        return declared
    if dataset in paper_sets:
        return dataset
    return next((name for name in sorted(paper_sets) if name in DATASETS and dataset_dir(name) == folder), None)


def _fid_reference(fid_ref: Path | None, fid_stats: Path | None, inception_of) -> fid.FIDReference | None:
    from facefix.eval import fid

    if fid_ref and fid_stats:
        raise FacefixError("--fid-ref and --fid-stats: give one FID reference, not both")
    if fid_stats:
        return fid.file_reference(fid_stats)
    if fid_ref:
        return fid.folder_reference(fid_ref, inception_of())
    return None


def _result_path(results: Path, sample: Sample) -> Path:
    return results / Path(sample.name).with_suffix(".png")


def _inpaint_set(folder: Path, backend: str, weights: str | None, *, gt: Path | None, masks: str, limit: int | None,
                 steps: int | None, seed: int, device, dtype, batch_size: int, check_before_work) -> list[Sample]:
    from facefix.backends import RestoreOptions, inpainter_class
    from facefix.eval import inpaint
    from facefix.eval.runner import load_samples

    inpaint.check_mask_spec(masks, gt is not None)
    inpainter = load_model(inpainter_class(backend), weights, device=device, dtype=dtype,
                           options=RestoreOptions(seed=seed, steps=steps))
    inpainter.on_step = StepBar()
    samples = load_samples(folder, size=inpainter.face_size, gt=gt, synthesize=False, limit=limit)
    if gt is None:
        inpaint.clean_faces_as_samples(samples)
    hole_masks = inpaint.mask_samples(samples, masks, inpainter.face_size, folder)
    check_before_work(samples)
    info(f"inpainting {len(samples)} faces with {backend} ({masks} masks)...")
    inpaint.inpaint_samples(inpainter, samples, hole_masks, batch_size=batch_size)
    return samples


def _restore_set(folder: Path, backend: str, weights: str | None, *, gt: Path | None, synthesize: bool,
                 limit: int | None, unaligned: bool | None, detector: str, detector_weights: Path | None,
                 device, dtype, batch_size: int, check_before_work, background_options: tuple) -> list[Sample]:
    from facefix.backends import RestoreOptions, backend_class
    from facefix.eval import photos
    from facefix.eval.runner import image_files, load_samples, restore_samples

    restorer = load_model(backend_class(backend), weights, device=device, dtype=dtype, options=RestoreOptions())
    restorer.on_step = StepBar()
    if unaligned is None:
        unaligned = photos.looks_unaligned(image_files(folder, limit))
        if unaligned:
            info(f"{folder}: images are not square, so they are taken as whole photos (--aligned to override)")
    samples = load_samples(folder, size=None if unaligned else restorer.face_size, gt=gt, synthesize=synthesize,
                           limit=limit)
    check_before_work(samples)
    if not unaligned:
        info(f"restoring {len(samples)} faces with {backend}...")
        restore_samples(restorer, samples, batch_size=batch_size)
        return samples
    from facefix.face.detect import load_detector
    from facefix.commands.background import load_background
    from facefix.pipeline import FaceRestorePipeline

    requested, weights_bg, tile, precision = background_options
    background = load_background(requested, weights_bg, tile, upscale=1, device=device, precision=precision)
    pipeline = FaceRestorePipeline(restorer, load_detector(detector, detector_weights, device), batch_size=batch_size,
                                   background=background)
    info(f"restoring the faces of {len(samples)} photos with {backend}...")
    found = photos.restore_photos(pipeline, samples, batch_size=batch_size)
    info(f"{found} faces found in {len(samples)} photos")
    return samples


def evaluate(
    dataset: Annotated[str, typer.Option("--dataset", help="A known set (lfw, celeba-test, ...) or a folder of "
                                         "aligned faces or whole photos.")],
    gt: Annotated[Path | None, typer.Option("--gt", help="Folder of ground truth with the same file names.")] = None,
    synthesize: Annotated[bool, typer.Option("--synthesize", help="Degrade DATASET (CelebA-Test recipe, fixed "
                                             "seed) and use it as ground truth.")] = False,
    task: Annotated[Task, typer.Option("--task", help="restore, or inpaint masked faces.")] = Task.restore,
    backend: Annotated[str | None, typer.Option("--backend", "-b", help="Model (default: fusion; ddpm for "
                                                "--task inpaint).")] = None,
    weights: WeightsOpt = None,
    metrics: Annotated[str | None, typer.Option("--metrics", help=f"Comma-separated: {', '.join(METRICS)} "
                                                "(default psnr,ssim,niqe; psnr,ssim to inpaint).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Use only the first N images.")] = None,
    mask: Annotated[str, _option("--mask", INPAINTING, "Holes: center (25 %), random (20-30 %, seeded), white "
                                 "(pure-white pixels of masked inputs, with --gt) or a folder of masks.")] = "center",
    masks_old: Annotated[str | None, typer.Option("--masks", hidden=True)] = None,
    steps: Annotated[int | None, _option("--steps", INPAINTING, "Sampling steps.", min=1)] = None,
    seed: Annotated[int, _option("--seed", INPAINTING, "Seed of the sampler.")] = 0,
    unaligned: Annotated[bool | None, _option("--unaligned/--aligned", WHOLE_PHOTOS, "Whole photos (detect, align, "
                                              "restore, paste) or aligned faces; default: whole photos when any "
                                              "image is not square.")] = None,
    detector: DetectorOpt = Detector("retinaface_resnet50"),
    detector_weights: DetectorWeightsOpt = None,
    bg_upsampler: BgUpsamplerOpt = None,  # whole photos: the background through Real-ESRGAN at the same size
    bg_weights: BgWeightsOpt = None,
    bg_tile: BgTileOpt = DEFAULT_TILE,
    fid_ref: Annotated[Path | None, _option("--fid-ref", FID, "FID against this folder of images (statistics "
                                            "cached by content).", file_okay=False)] = None,
    fid_stats: Annotated[Path | None, _option("--fid-stats", FID, "FID against these statistics (.npz mu/sigma, "
                                              "or basicsr's .pth).", dir_okay=False)] = None,
    paper_set: Annotated[str | None, _option("--paper-set", OUTPUTS, "The published set DATASET holds, to show "
                                             "the papers' numbers beside ours.")] = None,
    scores: Annotated[list[Path] | None, _option("--scores", OUTPUTS, "Write the scores: .json and/or .csv "
                                                 "(repeatable).", metavar="FILE")] = None,
    output: Annotated[Path | None, _option("--output", OUTPUTS, "Also save the restored images in this folder.",
                                           metavar="DIR")] = None,
    results_old: Annotated[Path | None, typer.Option("--results", hidden=True)] = None,
    sheet_path: Annotated[Path | None, _option("--sheet", OUTPUTS, "Write a contact sheet of the worst and best "
                                               "images (input | output | ground truth).", dir_okay=False)] = None,
    sheet_metric: Annotated[str | None, _option("--sheet-metric", OUTPUTS, "Rank the sheet by this metric "
                                                "(default: the first per-image one).")] = None,
    sheet_count: Annotated[int, _option("--sheet-count", OUTPUTS, "Worst and best images shown.", min=1)] = 4,
    device: DeviceOpt = Device.auto,
    precision: PrecisionOpt = Precision.auto,
    batch_size: AutoBatchSizeOpt = "auto",
    max_megapixels: MaxMegapixelsOpt = DEFAULT_MEGAPIXELS,
) -> None:
    """Run a backend over an evaluation set and score it (mean over images), beside the papers' numbers."""
    import cv2

    from facefix.backends import backend_class, inpainter_class
    from facefix.device import resolve_device
    from facefix.eval import inpaint, report, sheet
    from facefix.eval.datasets import resolve_dataset
    from facefix.eval.paper import select_numbers
    from facefix.media import limit_pixels
    from facefix.precision import choose_precision
    from facefix.eval.runner import check_metric_names, check_metrics, score
    from facefix.quality import metrics as metric_functions

    mask = renamed(mask, masks_old, "--mask", "--masks")
    results = renamed(output, results_old, "--output", "--results")
    outputs = list(scores or [])
    if results is not None and results.suffix.lower() in (".json", ".csv"):  # --output FILE, the old meaning
        info(f"--output {results}: a score file is now written with --scores (the folder of images is --output)")
        outputs, results = outputs + [results], None
    limit_pixels(max_megapixels)
    names = [n.strip() for n in (metrics or DEFAULT_METRICS[task]).split(",") if n.strip()]
    check_metric_names(names)
    report.check_score_outputs(outputs)
    if sheet_path is not None:
        sheet.check_sheet_options(sheet_path, sheet_metric, names)
    if gt is not None and synthesize:
        raise FacefixError("--gt and --synthesize: the ground truth is either given or made, not both")
    if task is Task.inpaint and (synthesize or unaligned):
        raise FacefixError("--task inpaint masks aligned clean faces itself (no --synthesize, no --unaligned)")
    backend = backend or DEFAULT_BACKEND[task]
    torch_device = resolve_device(device.value)
    folder = resolve_dataset(dataset)
    published_set = _paper_set(dataset, folder, paper_set)
    chosen = choose_precision(precision.value, inpainter_class(backend) if task is Task.inpaint
                              else backend_class(backend), torch_device)
    info(chosen.describe())
    dtype = chosen.dtype

    inception = None

    def inception_of() -> metric_functions.InceptionFeatures:  # built once, shared by reference and outputs
        nonlocal inception
        inception = inception or metric_functions.InceptionFeatures(torch_device)
        return inception

    fid_reference = _fid_reference(fid_ref, fid_stats, inception_of) if "fid" in names else None

    def check_before_work(samples: list[Sample]) -> None:  # the set is loaded, nothing computed yet: fail early
        check_metrics(names, samples, fid_reference)
        if results is not None:
            for sample in samples:
                report.check_new_file(_result_path(results, sample), "--output")

    common = {"gt": gt, "limit": limit, "device": torch_device, "dtype": dtype, "batch_size": batch_size,
              "check_before_work": check_before_work}
    if task is Task.inpaint:
        samples = _inpaint_set(folder, backend, weights, masks=mask, steps=steps, seed=seed, **common)
    else:
        samples = _restore_set(folder, backend, weights, synthesize=synthesize, unaligned=unaligned,
                               detector=detector.value, detector_weights=detector_weights,
                               background_options=(bg_upsampler, bg_weights, bg_tile, precision.value), **common)
    if results is not None:
        for sample in samples:
            report.write_new_file(_result_path(results, sample), cv2.imencode(".png", sample.output)[1].tobytes())
    result = score(samples, names, device=torch_device, fid_reference=fid_reference,
                   inception=inception_of() if "fid" in names else None)

    setting = mask if task is Task.inpaint and mask in inpaint.GENERATED_MASKS else None
    paper = select_numbers(_paper_numbers(backend), published_set, setting)
    described = f"{len(samples)} images" + (f", {setting} masks" if setting else "")
    title = f"{backend} on {published_set or Path(dataset).name or dataset} ({described})"
    Console().print(report.results_table(result, title, paper))
    header = {"backend": backend, "dataset": dataset, "task": task.value, "images": len(samples),
              "precision": chosen.to_dict(),
              **({"masks": mask} if task is Task.inpaint else {})}
    report.write_scores(outputs, result, paper, header)
    if sheet_path is not None:
        image = sheet.contact_sheet(samples, result, sheet_metric or sheet.default_metric(names), sheet_count)
        report.write_new_file(sheet_path, cv2.imencode(sheet_path.suffix, image)[1].tobytes())
    empty, partial = _unscored(result.per_image, names)
    for sentence in partial + (empty if metrics is None and result.means() else []):
        warn(sentence)  # the default set scored something: a default metric that could not is only noted
    if empty and (metrics is not None or not result.means()):
        raise FacefixError("; ".join(empty))
