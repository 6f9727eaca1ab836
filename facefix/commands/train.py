"""`facefix train`: train a backend on a folder of high-quality faces; `facefix train export`.

On several GPUs (or CPU processes): ``torchrun --standalone --nproc_per_node N -m facefix train ...``.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from facefix.commands.options import Command, Device, DeviceOpt, Precision, renamed
from facefix.console import console, warn
from facefix.errors import FacefixError
from facefix.backends import recipe_class, recipe_names

if TYPE_CHECKING:  # torch and the training modules load when training starts, not with --help
    import torch

    from facefix.train.config import TrainConfig
    from facefix.train.distributed import DistributedContext

app = typer.Typer(help="Train a backend (and export inference weights).", invoke_without_command=True)
Method = Enum("Method", {name: name for name in recipe_names()}, type=str)


#: --precision -> the config's mixed_precision (fp32 steps are not mixed)
_MIXED_PRECISION = {"fp32": "no", "fp16": "fp16", "bf16": "bf16"}


class Preset(str, Enum):
    paper = "paper"
    tiny = "tiny"


@app.callback(invoke_without_command=True)
def train(
    ctx: typer.Context,
    method: Annotated[Method | None, typer.Option("--method", help="Which backend to train.")] = None,
    method_old: Annotated[Method | None, typer.Option("-m", hidden=True)] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Folder (recursive) or list file of HQ faces.")] = None,
    val_data: Annotated[Path | None, typer.Option("--val-data", help="Held-out aligned faces to validate on.")]
    = None,
    align: Annotated[bool, typer.Option("--align", help="Detect and align the faces of --data first (cached).")]
    = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", file_okay=False,
                                                help="Run folder: checkpoints, logs, config.")] = None,
    out_old: Annotated[Path | None, typer.Option("--out", hidden=True)] = None,
    preset: Annotated[Preset, typer.Option("--preset", help="paper: the paper's network; tiny: CPU smoke runs.")]
    = Preset.paper,
    size: Annotated[int | None, typer.Option("--size", help="Face size (default: the preset's).")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after this many steps.")] = None,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", help="Also stop after this many minutes "
                                                      "(validating and saving a checkpoint first).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Faces per step.")] = None,
    init: Annotated[str | None, typer.Option("--init", help="Start from a registry id or checkpoint file.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the newest checkpoint in --output.")] = False,
    config_file: Annotated[Path | None, typer.Option("--config", help="TOML file of config overrides.")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override one config key: KEY=VALUE.")] = [],  # noqa: B006
    device: DeviceOpt = Device.auto,
    precision: Annotated[Precision | None, typer.Option(
        "--precision", rich_help_panel="Hardware",
        help="Mixed precision of the training steps (default: the config's mixed_precision, fp32).")] = None,
) -> None:
    """Train METHOD on the faces in DATA, writing checkpoints to the --output folder."""
    if ctx.invoked_subcommand is not None:
        return
    method = renamed(method, method_old, "--method", "-m")
    out = renamed(output, out_old, "--output", "--out")
    import torch

    from facefix.train import distributed
    from facefix.train.config import apply_overrides, load_toml, parse_set
    from facefix.train.data import DegradedFaces
    from facefix.train.loop import Trainer

    if method is None or data is None or out is None:
        raise FacefixError("facefix train needs --method, --data and --output (see facefix train --help)")
    cls = recipe_class(method.value)
    config = cls.config_class(data=str(data), out=str(out), preset=preset.value)
    if preset is Preset.tiny:
        tiny = {"size": 64, "batch_size": 4, "pretrained_losses": False, "lr": 5e-4, "checkpoint_every": 50,
                "workers": 0}
        known = {f.name for f in dataclasses.fields(config)}
        config = apply_overrides(config, {k: v for k, v in tiny.items() if k in known}, "--preset tiny")
    if config_file:
        config = apply_overrides(config, load_toml(config_file), str(config_file))
    flags = {"size": size, "max_steps": max_steps, "max_minutes": max_minutes, "batch_size": batch_size, "init": init,
             "val_data": str(val_data) if val_data else None, "align": align or None,
             "mixed_precision": _MIXED_PRECISION.get(precision.value) if precision else None}
    config = apply_overrides(config, {k: v for k, v in flags.items() if v is not None}, "command line")
    config = apply_overrides(config, parse_set(set_), "--set")

    context, torch_device = distributed.start(device.value)
    try:
        files = _training_faces(config, context, torch_device)
        # the same initial weights in every process (rank 0's are broadcast too, to be sure)
        torch.manual_seed(config.seed)
        recipe = cls(config, torch_device)
        dataset = DegradedFaces(files, size=config.size, degradation=cls.degradation, seed=config.seed)
        Trainer(recipe, dataset, context=context).train(resume=resume)
    finally:
        distributed.stop(context)
    if context.is_main:
        console.print(f"done: {out} (export with: facefix train export {out})")


def _training_faces(config: TrainConfig, context: DistributedContext, device: torch.device) -> list[Path]:
    """The faces of ``config.data``; with ``align``, their aligned crops (each process aligns a share)."""
    from facefix.train import distributed
    from facefix.train.alignment import align_photos, aligned_cache_dir
    from facefix.train.data import list_faces

    files = list_faces(config.data)
    if not config.align:
        return files
    from facefix.face.detect import load_detector

    cache = aligned_cache_dir(config.detector, config.size)

    def align(photos: list[Path]) -> tuple[list[Path], list[Path]]:
        return align_photos(photos, make_detector=lambda: load_detector(config.detector, device=device),
                            size=config.size, cache=cache, show_progress=context.is_main)

    align(files[context.rank::context.world_size])
    distributed.barrier(context)
    crops, faceless = align(files)  # all cached by now
    if not crops:
        raise FacefixError(f"{config.data}: no face found in any of the {len(files)} photos")
    if faceless and context.is_main:
        warn(f"{config.data}: no face found in {len(faceless)} of {len(files)} photos "
             f"(left out, e.g. {faceless[0]})")
    return crops


@app.command(cls=Command)
def export(
    run: Annotated[Path, typer.Argument(help="A run folder or one checkpoint folder in it.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write RUN-NAME.safetensors in (a "
                                         "name ending in .safetensors is the file itself).")] = Path("."),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Write a checkpoint's EMA generator as its method's inference file for `facefix restore --weights`."""
    from facefix.train.export import export_run

    target = output if output.suffix == ".safetensors" else output / f"{run.resolve().name}.safetensors"
    folder = export_run(run, target, recipe_class, overwrite=overwrite)
    console.print(f"exported {folder} -> {target}")
