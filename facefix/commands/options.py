"""Options shared by several commands, defined once."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from facefix.backends import BACKENDS


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Precision(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


Backend = Enum("Backend", {name: name for name in BACKENDS}, type=str)

BackendOpt = Annotated[Backend, typer.Option("--backend", "-b", help="Restoration model.")]
WeightsOpt = Annotated[
    str | None,
    typer.Option("--weights", "-w", help="Registry id (see `facefix models list`) or a checkpoint file."),
]
DeviceOpt = Annotated[Device, typer.Option("--device", help="auto picks cuda, then mps, then cpu.",
                                           rich_help_panel="Hardware")]
PrecisionOpt = Annotated[Precision, typer.Option("--precision", help="Inference precision.",
                                                 rich_help_panel="Hardware")]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Faces per forward pass.",
                                           rich_help_panel="Hardware")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed for stochastic parts (repeatable output).")]
OutputDirOpt = Annotated[Path, typer.Option("--output", "-o", file_okay=False, help="Output folder.")]
