"""`facefix restore`: restore every face in images, folders, globs and videos."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID

from facefix.commands.background import DEFAULT_TILE, BgTileOpt, BgUpsamplerOpt, BgWeightsOpt, FaceUpsampleOpt
from facefix.commands.hints import load_model
from facefix.commands.options import (AutoBatchSizeOpt, Backend, BackendOpt, Detector, DetectorOpt, DetectorWeightsOpt,
                                      Device, DeviceOpt, InputsArg, MaxMegapixelsOpt, OutputDirOpt, Precision,
                                      PrecisionOpt, SeedOpt, WeightsOpt)
from facefix.commands.progress import StepBar
from facefix.console import console, error, info, progress, warn
from facefix.errors import FacefixError
from facefix.limits import DEFAULT_MEGAPIXELS


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class Ext(str, Enum):
    auto = "auto"
    png = "png"
    jpg = "jpg"


def restore(
    inputs: InputsArg,
    output: OutputDirOpt = Path("restored"),
    backend: BackendOpt = Backend("fusion"),
    weights: WeightsOpt = None,
    aligned: Annotated[bool, typer.Option("--aligned", help="Inputs are already aligned face crops.")] = False,
    detector: DetectorOpt = Detector("retinaface_resnet50"),
    detector_weights: DetectorWeightsOpt = None,
    upscale: Annotated[float, typer.Option("--upscale", "-s", min=1, max=8, help="Scale the whole image.")] = 1,
    fidelity: Annotated[float | None, typer.Option("--fidelity", min=0, max=1,
                                                   help="1 = faithful to the input, 0 = most realistic.")] = None,
    only_center_face: Annotated[bool, typer.Option("--only-center-face",
                                                   help="Restore only the central face.")] = False,
    parse: Annotated[bool, typer.Option("--parse", help="Paste with a face-parsing mask (keeps hair and ears; "
                                        "downloads ParseNet, 85 MB, once).")] = False,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    ext: Annotated[Ext, typer.Option("--ext", help="Output format (auto keeps the input's).")] = Ext.auto,
    suffix: Annotated[str, typer.Option("--suffix", help="Appended to output file names.")] = "",
    save_faces: Annotated[bool, typer.Option("--save-faces", help="Also save input|restored face pairs.")] = False,
    compare: Annotated[bool, typer.Option("--compare", help="Also save input|output side by side.")] = False,
    skip_no_face: Annotated[bool, typer.Option("--skip-no-face",
                                               help="Write nothing for images without faces.")] = False,
    report: Annotated[Path | None, typer.Option("--report", dir_okay=False, help="Write a JSON report here.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    seed: SeedOpt = None,
    random_noise: Annotated[bool, typer.Option("--random-noise", help="Fresh noise instead of stored.")] = False,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Sampling steps (diffusion backends).")] = None,
    variant: Annotated[str | None, typer.Option("--variant", help="Model variant (interlcm: 3step, 1step, "
                                                "colorization, inpainting).")] = None,
    device: DeviceOpt = Device.auto,
    precision: PrecisionOpt = Precision.auto,
    batch_size: AutoBatchSizeOpt = "auto",
    max_megapixels: MaxMegapixelsOpt = DEFAULT_MEGAPIXELS,
    # background upsampling and identity report (issue 19)
    bg_upsampler: BgUpsamplerOpt = None,
    bg_weights: BgWeightsOpt = None,
    bg_tile: BgTileOpt = DEFAULT_TILE,
    face_upsample: FaceUpsampleOpt = False,
    report_identity: Annotated[bool, typer.Option("--report-identity", help="Add each face's identity drift "
                                                  "(ArcFace angle, input vs restored crop) to --report.")] = False,
    # Engines: where the files are restored (see facefix/engines).
    engine: Annotated[Engine, typer.Option("--engine", rich_help_panel="Scale out",
                                           help="local: this process; ray: Ray workers (every GPU, or a cluster; "
                                           'pip install -e ".[ray]").')] = Engine.local,
    ray_address: Annotated[str | None, typer.Option("--ray-address", rich_help_panel="Scale out",
                                                    help="A Ray cluster (auto, ray://HOST:10001); "
                                                    "default: a Ray runtime on this machine.")] = None,
    ray_workers: Annotated[int | None, typer.Option("--ray-workers", min=1, rich_help_panel="Scale out",
                                                    help="Worker processes (default: one per GPU; "
                                                    "without GPUs one per 4 cores).")] = None,
) -> None:
    """Restore every face in INPUTS and paste it back seamlessly."""
    # torch, cv2 and the backends load here, not with `facefix --help`
    from facefix.backends import RestoreOptions, backend_class
    from facefix.commands.background import load_background
    from facefix.device import resolve_device
    from facefix.face.detect import load_detector
    from facefix.face.parse import load_parser
    from facefix.media import expand_inputs, limit_pixels
    from facefix.memory import auto_batch_limit
    from facefix.pipeline import FaceRestorePipeline
    from facefix.precision import choose_precision
    from facefix.quality.metrics import IdentityMetric
    from facefix.runner import OutputOptions, check_report_target, exclude_outputs, restore_files, write_report

    if engine is Engine.ray:
        from facefix.engines.ray_engine import RayOptions, import_ray, restore_files_on_ray

    # 1. Inputs, planned before anything is written: earlier outputs are not inputs.
    limit_pixels(max_megapixels)
    items, problems = expand_inputs(inputs, recursive=recursive)
    out = OutputOptions(output_dir=output, ext=ext.value, suffix=suffix, overwrite=overwrite, save_faces=save_faces,
                        compare=compare, skip_no_face=skip_no_face, aligned=aligned)
    items = exclude_outputs(items, out)
    for problem in problems:
        error(problem)
    if not items:
        raise typer.Exit(1)
    if report:
        check_report_target(report, items, overwrite=overwrite)

    # 2. Models.
    options = RestoreOptions(fidelity=fidelity, seed=seed, random_noise=random_noise, steps=steps, variant=variant)
    cls = backend_class(backend.value)
    given = {"fidelity": fidelity, "seed": seed, "random_noise": random_noise, "steps": steps, "variant": variant}
    unsupported = [name for name, value in given.items()
                   if value not in (None, False) and name not in cls.supported_options]
    for name in unsupported:
        warn(f"--{name.replace('_', '-')} has no effect on the {backend.value} backend")
    if report_identity and report is None:
        warn("--report-identity writes into the --report file: add --report FILE")
    torch_device = resolve_device(device.value)
    chosen = choose_precision(precision.value, cls, torch_device)  # a Ray worker chooses for its own device

    def load_pipeline() -> FaceRestorePipeline:
        # With --engine ray this runs in each worker, on that worker's device.
        worker_device = resolve_device(device.value)
        worker_choice = chosen if worker_device == torch_device else choose_precision(precision.value, cls,
                                                                                      worker_device)
        restorer = load_model(cls, weights, device=worker_device, dtype=worker_choice.dtype, options=options)
        restorer.on_step = StepBar()
        face_detector = None if aligned else load_detector(detector.value, detector_weights, worker_device)
        parser = load_parser(worker_device) if parse and not aligned else None
        background = None if aligned else load_background(bg_upsampler, bg_weights, bg_tile, upscale=upscale,
                                                          device=worker_device, precision=precision.value)
        identity = IdentityMetric(worker_device) if report_identity and report is not None else None
        return FaceRestorePipeline(restorer, face_detector, upscale=upscale, only_center_face=only_center_face,
                                   batch_size=batch_size, parser=parser, background=background,
                                   face_upsample=face_upsample, identity=identity)

    if engine is Engine.ray:
        import_ray()  # before any work: a missing extra is a one-line error
    pipeline = load_pipeline() if engine is Engine.local else None
    if pipeline is not None:  # said once the weights are in: a first run that cannot get them is one line
        info(chosen.describe())
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacefixError(f"{output}: cannot create the output folder ({exc.strerror})") from None

    # 3. Restore, with a progress bar over files (and one over the frames of the video being restored).
    with progress() as bar:
        task = bar.add_task("restoring", total=len(items), status="")
        faces_done = 0
        frame_tasks: dict[str, TaskID] = {}

        def on_frames(item, done: int, total: int | None, faces: int) -> None:
            if str(item.path) not in frame_tasks:
                frame_tasks[str(item.path)] = bar.add_task(f"  {item.path.name}", total=total, status="")
            bar.update(frame_tasks[str(item.path)], completed=done, status=f"{faces} faces")

        def on_file_done(file_report, faces: int) -> None:
            nonlocal faces_done
            faces_done += faces
            if file_report.input in frame_tasks:
                bar.remove_task(frame_tasks.pop(file_report.input))
            if file_report.status == "failed":
                error(file_report.error)
            elapsed = bar.tasks[task].elapsed or 1e-9
            bar.update(task, advance=1, status=f"{faces_done} faces, {faces_done / elapsed:.2f} faces/s")

        # pictures decoded together: enough for a full batch of one-face pictures, and a few for overlap
        def images_per_batch(device_type: str) -> int:
            import torch

            return max(4, batch_size or auto_batch_limit(torch.device(device_type)))

        if engine is Engine.ray:
            ray_options = RayOptions(address=ray_address, workers=ray_workers, use_gpus=device is not Device.cpu)
            reports = restore_files_on_ray(items, load_pipeline, out, images_per_batch=images_per_batch,
                                           ray_options=ray_options, on_file_done=on_file_done)
        else:
            reports = restore_files(items, pipeline, out, on_file_done=on_file_done, on_frames=on_frames,
                                    images_per_batch=images_per_batch(pipeline.restorer.device.type))

    # 4. Summary.
    if report:
        write_report(report, reports, overwrite=overwrite, inputs={item.path.resolve() for item in items},
                     settings={"backend": backend.value, "precision": chosen.to_dict()})
    failed = sum(r.status == "failed" for r in reports) + len(problems)
    counts = {s: sum(r.status == s for r in reports) for s in ("restored", "no-face", "skipped-existing")}
    frames = sum(r.frames or 0 for r in reports)
    console.print(f"{counts['restored']} restored, {counts['no-face']} without faces, "
                  f"{counts['skipped-existing']} already done, {failed} failed"
                  + (f" ({frames} video frames)" if frames else "") + f" -> {output}")
    if failed:
        raise typer.Exit(1)
