"""The background-upsampler options (``--bg-upsampler``, ``--bg-weights``, ``--bg-tile``), defined once for
every command that enlarges whole pictures, and the choice they make."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from facefix.console import info
from facefix.limits import DEFAULT_TILE

if TYPE_CHECKING:  # torch and the network load with the upsampler, not with `facefix --help`
    import torch

    from facefix.upsample import BackgroundUpsampler

_PANEL = "Background"


class BgUpsampler(str, Enum):
    realesrgan = "realesrgan"
    none = "none"


BgUpsamplerOpt = Annotated[BgUpsampler | None, typer.Option(
    "--bg-upsampler", rich_help_panel=_PANEL, show_default=False,
    help="Enlarge the picture around the faces with Real-ESRGAN, or with a plain resize (none). "
         "Default: realesrgan when --upscale > 1 on a GPU, none on a CPU (slow there).")]
BgWeightsOpt = Annotated[str | None, typer.Option(
    "--bg-weights", rich_help_panel=_PANEL, metavar="ID|PATH",
    help="Real-ESRGAN weights: a registry id or any RRDBNet file (default: realesrgan.x2plus up to "
         "--upscale 2, realesrgan.x4plus above). Implies --bg-upsampler realesrgan.")]
BgTileOpt = Annotated[int, typer.Option(
    "--bg-tile", min=0, rich_help_panel=_PANEL,
    help="Tile size in input pixels for the background upsampler (0: the whole picture at once); "
         "halved automatically when a tile does not fit in memory.")]
FaceUpsampleOpt = Annotated[bool, typer.Option(
    "--face-upsample", rich_help_panel=_PANEL,
    help="Also pass the restored faces through the background upsampler before pasting (--upscale > 1).")]

CPU_NOTE = ("note: on a CPU the background is enlarged with a plain resize (Real-ESRGAN is slow there); "
            "add --bg-upsampler realesrgan to use it anyway")


def use_realesrgan(requested: BgUpsampler | None, weights: str | None, upscale: float,
                   device: torch.device) -> bool:
    """Whether the background goes through Real-ESRGAN: as asked, else on a GPU when enlarging."""
    if requested is not None:
        return requested is BgUpsampler.realesrgan
    return weights is not None or (upscale > 1 and device.type != "cpu")


def background_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The upsampler's precision: ``--precision`` as given; ``auto`` is fp32 on the CPU (the restorer's
    probe says nothing of this network, and bf16 moves its output by 2-3 grey levels from the reference)
    and fp16 on a GPU, the reference upsampler's own half precision."""
    import torch

    from facefix.device import resolve_dtype

    if precision != "auto":
        return resolve_dtype(precision)
    return torch.float32 if device.type == "cpu" else torch.float16


def load_background(requested: BgUpsampler | None, weights: str | None, tile: int, *, upscale: float,
                    device: torch.device, precision: str) -> BackgroundUpsampler | None:
    """The background upsampler the options ask for (at ``--precision``, see :func:`background_dtype`), or
    ``None`` (plain resize); says once, on a CPU, how to turn the default-off upsampler on."""
    if not use_realesrgan(requested, weights, upscale, device):
        if requested is None and upscale > 1:
            info(CPU_NOTE)
        return None
    from facefix.upsample import load_upsampler

    return load_upsampler(weights, upscale=upscale, device=device, dtype=background_dtype(precision, device),
                          tile=tile, on_tile_halved=lambda size: info(f"background upsampler: out of memory, "
                                                                      f"tiles of {size} px from now on"))


__all__ = ["DEFAULT_TILE", "BgTileOpt", "BgUpsampler", "BgUpsamplerOpt", "BgWeightsOpt", "FaceUpsampleOpt",
           "background_dtype", "load_background", "use_realesrgan"]
