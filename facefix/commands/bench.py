"""`facefix bench`: how fast a backend restores faces on this machine, alone and in the whole pipeline."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from facefix.commands.background import (DEFAULT_TILE, BgTileOpt, BgUpsampler, BgUpsamplerOpt, BgWeightsOpt,
                                         background_dtype)
from facefix.commands.options import (
    Backend,
    BackendOpt,
    Detector,
    DetectorOpt,
    DetectorWeightsOpt,
    DeviceOpt,
    Precision,
    WeightsOpt,
    renamed,
)
from facefix.commands.hints import load_model
from facefix.console import console, error
from facefix.errors import FacefixError


def _parse_batch_sizes(text: str, auto_size: int) -> list[int]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        sizes = [auto_size if part == "auto" else int(part) for part in parts]
    except ValueError:
        raise FacefixError(f"--batch-size {text!r}: expected auto or comma-separated integers such as 1,8,32") from None
    if not sizes or min(sizes) < 1:
        raise FacefixError(f"--batch-size {text!r}: batch sizes must be positive")
    return sizes


def _build_restorer(cls, weights: str | None, size: int | None, **kwargs):
    if weights is not None:
        if size is not None:
            raise FacefixError("--size applies to random weights only; the face size of --weights is fixed")
        return load_model(cls, weights, **kwargs)
    try:
        return cls.from_config({"out_size": size} if size else None, **kwargs)
    except TypeError:
        raise FacefixError(f"--size: the {cls.name} backend cannot be built at another size") from None


def bench_background(weights: str | None, **kwargs):
    """``--bg-weights``, or (nothing downloaded) random weights of the network ``--upscale`` would use."""
    from facefix.upsample import load_upsampler, random_weight_upsampler

    return load_upsampler(weights, **kwargs) if weights is not None else random_weight_upsampler(**kwargs)


def _show_choice(chosen) -> None:
    """The probe's decision and timings, when ``auto`` was asked for."""
    from facefix.precision import AUTO, BF16_MIN_SPEEDUP

    if chosen.requested != AUTO:
        return
    console.print(chosen.describe())
    if chosen.probe is not None:
        probe = chosen.probe
        console.print(f"  probe, one face, median of {probe.rounds} interleaved rounds: "
                      f"fp32 {probe.fp32_seconds:.3f} s, bf16 {probe.bf16_seconds:.3f} s -> {probe.speedup:.2f}x "
                      f"(bf16 from {BF16_MIN_SPEEDUP}x)")


def bench(
    backend: BackendOpt = Backend("fusion"),
    weights: WeightsOpt = None,
    size: Annotated[int | None, typer.Option("--size", min=16, help="Face size of the random-weight network "
                                             "(default: the backend's).")] = None,
    batch_sizes: Annotated[str, typer.Option("--batch-size", metavar="auto|N,...", help="Faces per forward pass, "
                                             "comma-separated to time several; auto: as restore picks it.")] = "1,8,32",
    batch_sizes_old: Annotated[str | None, typer.Option("--batch-sizes", hidden=True)] = None,
    precisions: Annotated[list[Precision], typer.Option(
        "--precision", help="Repeat for several. auto: measure the CPU probe afresh (or take the GPU's rule), "
        "show its decision and timings, and time what it picks.")] = [Precision.auto],  # noqa: B006
    device: DeviceOpt = "auto",
    compile_network: Annotated[bool, typer.Option("--compile", help="torch.compile the network first "
                                                  "(the first calls then take minutes).")] = False,
    pipeline_inputs: Annotated[list[str] | None, typer.Option(
        "--pipeline", help="Also time the whole pipeline (decode, detect, restore, paste, encode) on these "
        "photos, folders or videos; repeat for several.")] = None,
    detector: DetectorOpt = Detector("retinaface_resnet50"),
    detector_weights: DetectorWeightsOpt = None,
    upscale: Annotated[float, typer.Option("--upscale", "-s", min=1, max=8, help="Pipeline upscale.")] = 1,
    min_seconds: Annotated[float, typer.Option("--min-seconds", help="Time each setting at least this long.")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")] = False,
    # the background upsampler (issue 19): timed when asked for, random weights unless --bg-weights
    bg_upsampler: BgUpsamplerOpt = None,
    bg_weights: BgWeightsOpt = None,
    bg_tile: BgTileOpt = DEFAULT_TILE,
    bg_size: Annotated[int, typer.Option("--bg-size", min=16, rich_help_panel="Background",
                                         help="Side of the square random picture the upsampler is timed on.")] = 512,
) -> None:
    """Measure per-face latency, faces/s and peak memory of a backend's network (and of the pipeline).

    Without --weights the real architecture runs with random weights, so nothing is downloaded.
    """
    # torch, cv2 and the backends load here, not with `facefix --help`
    from facefix.allocator import keep_freed_cpu_memory
    from facefix.backends import RestoreOptions, backend_class
    from facefix.bench import (ROW_HEADERS, bench_pipeline, bench_restorer, bench_upsampler, compile_restorer,
                               results_to_json)
    from facefix.device import resolve_device
    from facefix.face.detect import load_detector
    from facefix.media import expand_inputs
    from facefix.memory import auto_batch_limit
    from facefix.pipeline import FaceRestorePipeline
    from facefix.precision import choose_precision

    cls = backend_class(backend.value)
    torch_device = resolve_device(getattr(device, "value", device))
    sizes = _parse_batch_sizes(renamed(batch_sizes, batch_sizes_old, "--batch-size", "--batch-sizes"),
                               auto_batch_limit(torch_device))
    if torch_device.type == "cpu":
        keep_freed_cpu_memory()  # as `facefix restore` runs (its pipeline sets it)
    items = []
    if pipeline_inputs:
        items, problems = expand_inputs(pipeline_inputs, recursive=False)
        for problem in problems:
            error(problem)
        if problems or not items:
            raise typer.Exit(1)
    face_detector = load_detector(detector.value, detector_weights, torch_device) if items else None
    results = []
    for requested in precisions:
        chosen = choose_precision(requested.value, cls, torch_device, fresh=True)
        _show_choice(chosen)
        precision = chosen.precision
        restorer = _build_restorer(cls, weights, size, device=torch_device, dtype=chosen.dtype,
                                   options=RestoreOptions())
        if compile_network:
            compile_restorer(restorer)
        for batch_size in sizes:
            console.print(f"[dim]{backend.value} {precision} batch {batch_size} on {torch_device}...[/]")
            results.append(bench_restorer(restorer, batch_size=batch_size, precision=precision,
                                          min_seconds=min_seconds))
            if items:
                pipeline = FaceRestorePipeline(restorer, face_detector, upscale=upscale, batch_size=batch_size)
                results.append(bench_pipeline(pipeline, items, precision=precision,
                                              images_per_batch=batch_size, min_seconds=min_seconds))
        if bg_upsampler is BgUpsampler.realesrgan or (bg_upsampler is None and bg_weights is not None):
            upsampler = bench_background(bg_weights, upscale=upscale, device=torch_device,
                                         dtype=background_dtype(requested.value, torch_device), tile=bg_tile)
            console.print(f"[dim]background upsampler {precision} {bg_size} px on {torch_device}...[/]")
            results.append(bench_upsampler(upsampler, size=(bg_size, bg_size), precision=precision,
                                           min_seconds=min_seconds))
    if as_json:
        typer.echo(results_to_json(results))
        return
    table = Table(*ROW_HEADERS, title=f"facefix bench ({results[0].threads} CPU threads)")
    for result in results:
        if result.scope != "background":
            table.add_row(*result.as_row())
    Console().print(table)
    for result in results:
        if result.scope == "background":
            console.print(result.summary())
        if result.scope == "pipeline":
            stages = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in result.seconds.items())
            console.print(f"pipeline batch {result.batch_size}: {result.faces} faces per pass; {stages}")
