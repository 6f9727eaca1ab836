"""Throughput and latency of a backend's network, measured the same way on every device.

Numbers come from here, never from timed tests. Each measurement warms up, synchronises the device
around the timed region, and reports per-face latency, faces per second and peak memory (the CUDA
allocator's peak on a GPU, the process's peak resident set on the CPU).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from dataclasses import asdict, dataclass

import torch

from facefix.backends.base import Restorer


@dataclass(frozen=True)
class BenchResult:
    backend: str
    device: str
    precision: str
    face_size: int
    batch_size: int
    iterations: int
    seconds_per_batch: float
    seconds_per_face: float
    faces_per_second: float
    peak_memory_mib: float
    threads: int

    def as_row(self) -> list[str]:
        return [self.backend, self.device, self.precision, str(self.face_size), str(self.batch_size),
                f"{self.seconds_per_face * 1000:.1f}", f"{self.faces_per_second:.2f}",
                f"{self.peak_memory_mib:.0f}"]


ROW_HEADERS = ["backend", "device", "precision", "size", "batch", "ms/face", "faces/s", "peak MiB"]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux and bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def bench_restorer(restorer: Restorer, *, batch_size: int, precision: str, warmup: int = 1,
                   min_iterations: int = 3, min_seconds: float = 2.0) -> BenchResult:
    """Time ``restorer.restore`` on random faces of one batch size."""
    device = restorer.device
    faces = torch.rand(batch_size, 3, restorer.face_size, restorer.face_size, device=device)
    with torch.inference_mode():
        for _ in range(warmup):
            restorer.restore(faces)
        _synchronize(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        iterations, start = 0, time.perf_counter()
        while iterations < min_iterations or time.perf_counter() - start < min_seconds:
            restorer.restore(faces)
            iterations += 1
        _synchronize(device)
        elapsed = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else _peak_rss_mib())
    per_batch = elapsed / iterations
    return BenchResult(
        backend=restorer.name, device=str(device), precision=precision, face_size=restorer.face_size,
        batch_size=batch_size, iterations=iterations, seconds_per_batch=per_batch,
        seconds_per_face=per_batch / batch_size, faces_per_second=batch_size / per_batch,
        peak_memory_mib=peak, threads=torch.get_num_threads(),
    )


def results_to_json(results: list[BenchResult]) -> str:
    return json.dumps([asdict(r) for r in results], indent=2)
