"""`facefix bench`: how fast a backend restores faces on this machine."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from facefix.backends import RestoreOptions, backend_class
from facefix.bench import ROW_HEADERS, bench_restorer, results_to_json
from facefix.commands.options import Backend, BackendOpt, DeviceOpt, Precision, WeightsOpt
from facefix.console import console
from facefix.device import resolve_device, resolve_dtype
from facefix.errors import FacefixError


def _parse_batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise FacefixError(f"--batch-sizes {text!r}: expected comma-separated integers such as 1,8,32") from None
    if not sizes or min(sizes) < 1:
        raise FacefixError(f"--batch-sizes {text!r}: batch sizes must be positive")
    return sizes


def bench(
    backend: BackendOpt = Backend("fusion"),
    weights: WeightsOpt = None,
    batch_sizes: Annotated[str, typer.Option("--batch-sizes", help="Comma-separated batch sizes.")] = "1,8,32",
    precisions: Annotated[list[Precision], typer.Option("--precision", help="Repeat for several.")] = [Precision.fp32],  # noqa: B006
    device: DeviceOpt = "auto",
    min_seconds: Annotated[float, typer.Option("--min-seconds", help="Time each setting at least this long.")] = 2.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")] = False,
) -> None:
    """Measure per-face latency, faces/s and peak memory of a backend's network.

    Without --weights the real architecture runs with random weights, so nothing is downloaded.
    """
    cls = backend_class(backend.value)
    torch_device = resolve_device(getattr(device, "value", device))
    results = []
    for precision in precisions:
        dtype = resolve_dtype(precision.value)
        options = RestoreOptions()
        if weights is None:
            restorer = cls.from_config(None, device=torch_device, dtype=dtype, options=options)
        else:
            restorer = cls.load(weights, device=torch_device, dtype=dtype, options=options)
        for batch_size in _parse_batch_sizes(batch_sizes):
            console.print(f"[dim]{backend.value} {precision.value} batch {batch_size} on {torch_device}...[/]")
            results.append(bench_restorer(restorer, batch_size=batch_size, precision=precision.value,
                                          min_seconds=min_seconds))
    if as_json:
        typer.echo(results_to_json(results))
        return
    table = Table(*ROW_HEADERS, title=f"facefix bench ({results[0].threads} CPU threads)")
    for result in results:
        table.add_row(*result.as_row())
    Console().print(table)
