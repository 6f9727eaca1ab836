"""`facefix eval`: restore an evaluation set and report the papers' metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import cv2
import typer
from rich.console import Console
from rich.table import Table

from facefix.backends import RestoreOptions, backend_class
from facefix.commands.options import (Backend, BackendOpt, BatchSizeOpt, Device, DeviceOpt, Precision, PrecisionOpt,
                                      WeightsOpt)
from facefix.console import console
from facefix.device import resolve_device, resolve_dtype
from facefix.errors import FacefixError
from facefix.eval.datasets import resolve_dataset
from facefix.eval.metrics import METRICS
from facefix.eval.runner import load_pairs, restore_pairs, score


def evaluate(
    dataset: Annotated[str, typer.Option("--dataset", help="A known set (lfw, celeba-test, ...) or a folder of "
                                                          "aligned faces (inputs, or clean faces with --synthesize).")],
    gt: Annotated[Path | None, typer.Option("--gt", help="Folder of ground truth with the same file names.")] = None,
    synthesize: Annotated[bool, typer.Option("--synthesize", help="Degrade DATASET (CelebA-Test recipe, fixed "
                                                                  "seed) and use it as ground truth.")] = False,
    backend: BackendOpt = Backend("fusion"),
    weights: WeightsOpt = None,
    metrics: Annotated[str, typer.Option("--metrics", help=f"Comma-separated: {', '.join(METRICS)}.")]
    = "psnr,ssim,niqe",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Use only the first N images.")] = None,
    output: Annotated[Path | None, typer.Option("--output", help="Write per-image scores as JSON.")] = None,
    results: Annotated[Path | None, typer.Option("--results", file_okay=False,
                                                 help="Also save the restored faces here.")] = None,
    device: DeviceOpt = Device.auto,
    precision: PrecisionOpt = Precision.fp32,
    batch_size: BatchSizeOpt = 4,
) -> None:
    """Restore an evaluation set with a backend and score it (mean over images)."""
    names = [n.strip() for n in metrics.split(",") if n.strip()]
    torch_device = resolve_device(device.value)
    restorer = backend_class(backend.value).load(weights, device=torch_device, dtype=resolve_dtype(precision.value),
                                                 options=RestoreOptions())
    folder = resolve_dataset(dataset)
    pairs = load_pairs(folder, size=restorer.face_size, gt=gt, synthesize=synthesize, limit=limit)
    console.print(f"restoring {len(pairs)} faces with {backend.value}...")
    outputs = restore_pairs(restorer, pairs, batch_size=batch_size)
    if results:
        for (name, _, _), image in zip(pairs, outputs):
            target = results / Path(name).with_suffix(".png")
            if target.exists():
                raise FacefixError(f"{target}: already exists; choose an empty --results folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), image)
    result = score(pairs, outputs, names, device=torch_device)

    table = Table("metric", "mean", "better", title=f"{backend.value} on {dataset} ({len(pairs)} faces)")
    for name, value in result.means().items():
        table.add_row(name, f"{value:.4f}", "lower" if METRICS[name].lower_better else "higher")
    Console().print(table)
    if output:
        if output.exists():
            raise FacefixError(f"{output}: already exists")
        output.write_text(result.to_json())
