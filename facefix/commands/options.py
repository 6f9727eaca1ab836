"""Options shared by several commands, defined once."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperCommand

from facefix.backends import inpainter_names, restorer_names
from facefix.face import DETECTORS


class Command(TyperCommand):
    """A command whose usage line names its arguments as the help does (``INPUTS...``), without Typer's braces."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [re.sub(r"\{([^}]*)\}", lambda m: m.group(1).upper(), piece)
                for piece in super().collect_usage_pieces(ctx)]


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


Backend = Enum("Backend", {name: name for name in restorer_names()}, type=str)

BackendOpt = Annotated[Backend, typer.Option("--backend", "-b", help="Restoration model.")]
InpaintBackend = Enum("InpaintBackend", {name: name for name in inpainter_names()}, type=str)
InpaintBackendOpt = Annotated[InpaintBackend, typer.Option("--backend", "-b", help="Inpainting model.")]
WeightsOpt = Annotated[
    str | None,
    typer.Option("--weights", "-w", help="Registry id (see `facefix models list`) or a checkpoint file."),
]
DeviceOpt = Annotated[Device, typer.Option("--device", help="auto picks cuda, then mps, then cpu.",
                                           rich_help_panel="Hardware")]
PRECISION_HELP = ("Inference precision. auto: bf16 on a GPU that has it (else fp16), on the CPU bf16 where a "
                  "one-time probe measures it at least 1.3x faster than fp32, else fp32.")
PrecisionOpt = Annotated[Precision, typer.Option("--precision", help=PRECISION_HELP, rich_help_panel="Hardware")]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Faces per forward pass.",
                                           rich_help_panel="Hardware")]


def _faces_per_pass(value: str) -> int | None:
    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        raise typer.BadParameter(f"{value!r} is neither auto nor a positive number of faces")
    return int(value)


AutoBatchSizeOpt = Annotated[str, typer.Option(
    "--batch-size", callback=_faces_per_pass, metavar="auto|N", rich_help_panel="Hardware",
    help="Faces per forward pass; auto: as many as the free GPU memory holds (at most 32), one on the CPU.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed for stochastic parts (repeatable output).")]
OutputDirOpt = Annotated[Path, typer.Option("--output", "-o", file_okay=False, help="Output folder.")]
InputsArg = Annotated[list[str], typer.Argument(help="Images, folders, globs or videos.", metavar="INPUTS",
                                                show_default=False)]

Detector = Enum("Detector", {name: name for name in DETECTORS}, type=str)
DetectorOpt = Annotated[Detector, typer.Option("--detector", help="Face detector.")]
DetectorWeightsOpt = Annotated[Path | None, typer.Option("--detector-weights", exists=True, dir_okay=False,
                                                         help="A local RetinaFace weight file.")]
MaxMegapixelsOpt = Annotated[float, typer.Option(
    "--max-megapixels", min=1, help="Largest image decoded, in megapixels (guards against decompression bombs).")]


def renamed(new: object, old: object, new_flag: str, old_flag: str) -> object:
    """The value of an option typed under its new name or, for one release, its old one (hidden in --help)."""
    if old is None or old == [] or old is False:
        return new
    from facefix.console import warn

    warn(f"{old_flag} is now {new_flag}; the old name goes in the next release")
    return old
