"""Where a training run reports: ``log.jsonl``, TensorBoard, sample grids and the progress bar.

Only the main process (rank 0) reports; the others get a :class:`RunLog` with ``enabled=False``, whose
methods do nothing. The JSONL file has one object per logged step (``{"step": ..., "total": ...,
"it_per_s": ...}``) and per validation (``{"step": ..., "val_psnr": ...}``); TensorBoard gets the same
scalars under ``train/`` and ``val/``, and the sample grids under ``val/samples``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from facefix.console import console, progress


class RunLog:
    """Reports of one :meth:`~facefix.train.loop.Trainer.train` call; use as a context manager."""

    def __init__(self, out: Path, *, description: str, total: int, completed: int, enabled: bool = True,
                 tensorboard: bool = True):
        self.out, self.enabled, self.use_tensorboard = out, enabled, tensorboard
        self.description, self.total, self.first = description, total, completed
        self._writer = None
        self._bar = None

    def __enter__(self) -> RunLog:
        if not self.enabled:
            return self
        self._jsonl = (self.out / "log.jsonl").open("a")
        if self.use_tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.out / "tensorboard"))
        self._bar = progress()
        self._bar.__enter__()
        self._task = self._bar.add_task(self.description, total=self.total, completed=self.first, status="")
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        if not self.enabled:
            return
        self._bar.__exit__(*exc_info)
        self._jsonl.close()
        if self._writer is not None:
            self._writer.close()

    def _write(self, record: dict) -> None:
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()

    def rate(self, step: int) -> float:
        """Steps per second since this call started (the ETA of the bar comes from the same count)."""
        return (step - self.first) / max(time.perf_counter() - self._started, 1e-9)

    def step(self, step: int, losses: dict[str, float], *, lr: float, logged: bool) -> None:
        """Update the bar; on ``logged`` steps also write the losses to the JSONL file and TensorBoard."""
        if not self.enabled:
            return
        rate = self.rate(step)
        if logged:
            self._write({"step": step, **losses, "lr": lr, "it_per_s": rate})
            if self._writer is not None:
                for name, value in losses.items():
                    self._writer.add_scalar(f"train/{name}", value, step)
                self._writer.add_scalar("train/lr", lr, step)
                self._writer.add_scalar("train/it_per_s", rate, step)
        self._bar.update(self._task, completed=step,
                         status=f"loss {losses.get('total', 0.0):.4f}, {rate:.2f} it/s")

    def validation(self, step: int, metrics: dict[str, float], grid: np.ndarray | None, note: str) -> None:
        """Record a validation: metrics in JSONL/TensorBoard, ``samples/step_*.png`` (lq | output | gt)."""
        if not self.enabled:
            return
        if grid is not None:
            samples = self.out / "samples"
            samples.mkdir(exist_ok=True)
            cv2.imwrite(str(samples / f"step_{step:07d}.png"), np.ascontiguousarray(grid[..., ::-1]))
            if self._writer is not None:
                self._writer.add_image("val/samples", grid, step, dataformats="HWC")
        if metrics:
            self._write({"step": step, **metrics})
            if self._writer is not None:
                for name, value in metrics.items():
                    self._writer.add_scalar(f"val/{name.removeprefix('val_')}", value, step)
        summary = ", ".join(f"{name.removeprefix('val_')} {value:.4f}" for name, value in metrics.items())
        self.note(f"step {step}: " + "; ".join(part for part in (summary and f"validation {summary}", note) if part))

    def note(self, message: str) -> None:
        if self.enabled:
            console.print(message, soft_wrap=True)
