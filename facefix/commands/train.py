"""`facefix train`: train a backend on a folder of high-quality faces; `facefix train export`."""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from facefix import hub
from facefix.console import console
from facefix.device import resolve_device
from facefix.errors import FacefixError
from facefix.train.config import apply_overrides, load_toml, parse_set
from facefix.train.data import DegradedFaces, list_faces
from facefix.train.loop import Trainer
from facefix.train.recipes import RECIPES, recipe_class

app = typer.Typer(help="Train a backend (and export inference weights).", invoke_without_command=True)
Method = Enum("Method", {name: name for name in RECIPES}, type=str)


class Preset(str, Enum):
    paper = "paper"
    tiny = "tiny"


@app.callback(invoke_without_command=True)
def train(
    ctx: typer.Context,
    method: Annotated[Method | None, typer.Option("--method", "-m", help="Which backend to train.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Folder (recursive) or list file of HQ faces.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder: checkpoints, logs, config.")] = None,
    preset: Annotated[Preset, typer.Option("--preset", help="paper: the paper's network; tiny: CPU smoke runs.")]
    = Preset.paper,
    size: Annotated[int | None, typer.Option("--size", help="Face size (default: the preset's).")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after this many steps.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Faces per step.")] = None,
    init: Annotated[str | None, typer.Option("--init", help="Start from a registry id or checkpoint file.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the newest checkpoint in --out.")] = False,
    config_file: Annotated[Path | None, typer.Option("--config", help="TOML file of config overrides.")] = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override one config key: KEY=VALUE.")] = [],  # noqa: B006
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
) -> None:
    """Train METHOD on the faces in DATA, writing checkpoints to OUT."""
    if ctx.invoked_subcommand is not None:
        return
    if method is None or data is None or out is None:
        raise FacefixError("facefix train needs --method, --data and --out (see facefix train --help)")
    cls = recipe_class(method.value)
    config = cls.config_class(data=str(data), out=str(out), preset=preset.value)
    if preset is Preset.tiny:
        tiny = {"size": 64, "batch_size": 4, "pretrained_losses": False, "lr": 5e-4, "checkpoint_every": 50,
                "workers": 0}
        known = {f.name for f in dataclasses.fields(config)}
        config = apply_overrides(config, {k: v for k, v in tiny.items() if k in known}, "--preset tiny")
    if config_file:
        config = apply_overrides(config, load_toml(config_file), str(config_file))
    flags = {"size": size, "max_steps": max_steps, "batch_size": batch_size, "init": init}
    config = apply_overrides(config, {k: v for k, v in flags.items() if v is not None}, "command line")
    config = apply_overrides(config, parse_set(set_), "--set")

    torch_device = resolve_device(device)
    recipe = cls(config, torch_device)
    dataset = DegradedFaces(list_faces(data), size=config.size, degradation=cls.degradation, seed=config.seed)
    Trainer(recipe, dataset).train(resume=resume)
    console.print(f"done: {out} (export with: facefix train export {out})")


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="A run folder or one checkpoint folder in it.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .safetensors file to write.")]
    = Path("facefix-trained.safetensors"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Write the EMA weights of a checkpoint as an inference file for `facefix restore --weights`."""
    folder = run
    if not (folder / "ema.safetensors").exists():
        checkpoints = sorted((run / "checkpoints").glob("step_*"))
        if not checkpoints:
            raise FacefixError(f"{run}: no checkpoint found (expected ema.safetensors or checkpoints/step_*)")
        folder = checkpoints[-1]
    if output.exists() and not overwrite:
        raise FacefixError(f"{output}: already exists (use --overwrite)")
    metadata = hub.read_metadata(folder / "ema.safetensors")
    hub.save_state_dict(hub.load_state_dict(folder / "ema.safetensors"), output,
                        {"method": metadata.get("method", ""), "config": metadata.get("config", json.dumps({}))})
    console.print(f"exported {folder} -> {output}")
