"""`facefix inpaint`: fill masked regions of faces with an inpainting backend (default ddpm)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from facefix.commands.background import DEFAULT_TILE, BgTileOpt, BgUpsampler, BgUpsamplerOpt, BgWeightsOpt
from facefix.commands.hints import load_model
from facefix.commands.options import (AutoBatchSizeOpt, Detector, DetectorOpt, DetectorWeightsOpt, Device, DeviceOpt,
                                      InpaintBackend, InpaintBackendOpt, MaxMegapixelsOpt, OutputDirOpt, Precision,
                                      PrecisionOpt, SeedOpt, WeightsOpt)
from facefix.commands.progress import StepBar
from facefix.console import console, error, info, progress, warn
from facefix.errors import FacefixError, InputError
from facefix.limits import DEFAULT_MEGAPIXELS

if TYPE_CHECKING:
    import numpy as np

    from facefix.media import InputFile
    from facefix.runner import FileReport

_GENERATED = ("white", "center", "random")


def _mask_for(spec: str, path: Path, bgr: np.ndarray, index: int, seed: int | None) -> np.ndarray:
    import numpy as np

    from facefix.face.masks import center_mask, find_mask_file, random_mask, read_mask, white_mask

    height, width = bgr.shape[:2]
    if spec == "white":
        return white_mask(bgr)
    if spec == "center":
        return center_mask(height, width)
    if spec == "random":
        return random_mask(np.random.default_rng([seed or 0, index]), height, width)
    source = Path(spec)
    if source.is_dir():
        found = find_mask_file(source, path)
        if found is None:
            raise InputError(path, f"no mask named {path.stem}.* in {source}")
        source = found
    try:
        return read_mask(source, (height, width))
    except ValueError as exc:
        raise InputError(source, str(exc)) from None


def inpaint(
    inputs: Annotated[list[str], typer.Argument(help="Images, folders or globs.", metavar="INPUTS",
                                                show_default=False)],
    mask: Annotated[str, typer.Option("--mask", "-m", help="A mask image (non-zero = fill), a folder of masks "
                                      "named like the images, or: white (pure-white pixels are the hole), "
                                      "center, random (20-30 % of the image).")],
    output: OutputDirOpt = Path("inpainted"),
    backend: InpaintBackendOpt = InpaintBackend("ddpm"),
    weights: WeightsOpt = None,
    aligned: Annotated[bool, typer.Option("--aligned", help="Inputs are already aligned face crops.")] = False,
    detector: DetectorOpt = Detector("retinaface_resnet50"),
    detector_weights: DetectorWeightsOpt = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Sampling steps (default 250).")] = None,
    seed: SeedOpt = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    suffix: Annotated[str, typer.Option("--suffix", help="Appended to output file names.")] = "",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    device: DeviceOpt = Device.auto,
    precision: PrecisionOpt = Precision.auto,
    batch_size: AutoBatchSizeOpt = "auto",
    max_megapixels: MaxMegapixelsOpt = DEFAULT_MEGAPIXELS,
    # whole photos: enlarge the inpainted picture (issue 19)
    upscale: Annotated[float, typer.Option("--upscale", "-s", min=1, max=8, help="Scale the whole inpainted "
                                           "photo (1 keeps every unmasked pixel bit for bit).")] = 1,
    bg_upsampler: BgUpsamplerOpt = None,
    bg_weights: BgWeightsOpt = None,
    bg_tile: BgTileOpt = DEFAULT_TILE,
) -> None:
    """Fill the masked regions of the faces in INPUTS; pixels outside the mask are kept exactly."""
    # torch, cv2 and the backends load here, not with `facefix --help`
    from facefix.backends import RestoreOptions, inpainter_class
    from facefix.batching import Batches
    from facefix.commands.background import load_background
    from facefix.device import resolve_device
    from facefix.face.detect import load_detector
    from facefix.inpainting import inpaint_aligned, inpaint_photo
    from facefix.media import expand_inputs, is_video, limit_pixels, read_image, write_image
    from facefix.precision import choose_precision
    from facefix.runner import FileOutcome, OutputOptions, restore_files
    from facefix.upsample.pictures import enlarge_picture

    limit_pixels(max_megapixels)

    items, problems = expand_inputs(inputs, recursive=recursive)
    items = [item for item in items if not is_video(item.path)]
    for problem in problems:
        error(problem)
    if not items:
        raise typer.Exit(1)
    if mask not in _GENERATED and not Path(mask).exists():
        raise FacefixError(f"{mask}: no such mask file or folder (or use white, center, random)")

    torch_device = resolve_device(device.value)
    cls = inpainter_class(backend.value)
    chosen = choose_precision(precision.value, cls, torch_device)
    dtype = chosen.dtype
    inpainter = load_model(cls, weights, device=torch_device, dtype=dtype,
                           options=RestoreOptions(seed=seed, steps=steps))
    info(chosen.describe())  # once the weights are in: a first run that cannot get them is one line
    inpainter.on_step = StepBar()
    detector = None if aligned else load_detector(detector.value, detector_weights, torch_device)
    if aligned and (upscale != 1 or bg_weights or bg_upsampler is BgUpsampler.realesrgan):
        raise FacefixError("--upscale and --bg-* enlarge whole photos; aligned crops keep their size")
    background = None if aligned else load_background(bg_upsampler, bg_weights, bg_tile, upscale=upscale,
                                                      device=torch_device, precision=precision.value)
    batches = Batches(torch_device, batch_size, name=inpainter.name)  # one instance: the size it settles on is kept
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacefixError(f"{output}: cannot create the output folder ({exc.strerror})") from None

    positions = {item.path: index for index, item in enumerate(items)}  # seeds the random masks
    inputs_resolved = {item.path.resolve() for item in items}

    def inpaint_file(item: InputFile, target: Path) -> FileOutcome:
        started = time.perf_counter()
        picture = read_image(item.path)
        hole = _mask_for(mask, item.path, picture.bgr, positions[item.path], seed)
        result = (inpaint_aligned(inpainter, picture, hole, batches) if aligned
                  else inpaint_photo(inpainter, detector, picture, hole, batches))
        if result.unfilled:
            warn(f"{item.path}: {result.unfilled} masked pixels lie outside every detected face and were "
                 "left as they are")
        written = write_image(target, enlarge_picture(result.picture, upscale, background), like=picture,
                              overwrite=overwrite, protected=inputs_resolved)
        faces = [{"face": index} for index in range(result.faces)]  # one report entry per face inpainted
        return FileOutcome(written, "restored", faces, {"total": time.perf_counter() - started})

    with progress() as bar:
        task = bar.add_task("inpainting", total=len(items), status="")

        def on_file_done(report: FileReport, faces: int) -> None:
            if report.status == "failed":
                error(str(report.error))
            bar.update(task, advance=1)

        reports = restore_files(items, None, OutputOptions(output_dir=output, suffix=suffix, overwrite=overwrite),
                                on_file_done=on_file_done, file_handler=inpaint_file)
    done = sum(r.status == "restored" for r in reports)
    skipped = sum(r.status == "skipped-existing" for r in reports)
    failed = sum(r.status == "failed" for r in reports) + len(problems)
    console.print(f"{done} inpainted, {skipped} already done, {failed} failed -> {output}")
    if failed:
        raise typer.Exit(1)
