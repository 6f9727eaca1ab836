"""Throughput and latency of a backend's network, or of the whole pipeline, measured the same way on every device.

Numbers come from here, never from timed tests. Each measurement warms up, synchronises the device
around the timed region, and reports per-face latency, faces per second and peak memory (the CUDA
allocator's peak on a GPU, the process's peak resident set on the CPU, which only grows over a run).
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from facefix.backends.base import Restorer
from facefix.batching import Batches
from facefix.errors import FacefixError
from facefix.media import InputFile

if TYPE_CHECKING:
    from facefix.pipeline import FaceRestorePipeline
    from facefix.upsample import BackgroundUpsampler


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
    scope: str = "network"  # "network": restore() on random faces; "pipeline": files in, files out
    faces: int = 0  # faces per timed iteration (the batch size for the network alone)
    seconds: dict[str, float] = field(default_factory=dict)  # pipeline: per iteration, by stage

    def as_row(self) -> list[str]:
        return [self.scope, self.backend, self.device, self.precision, str(self.face_size), str(self.batch_size),
                f"{self.seconds_per_face * 1000:.1f}", f"{self.faces_per_second:.2f}",
                f"{self.peak_memory_mib:.0f}"]


ROW_HEADERS = ["scope", "backend", "device", "precision", "size", "batch", "ms/face", "faces/s", "peak MiB"]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux and bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def bench_restorer(restorer: Restorer, *, batch_size: int | None, precision: str, warmup: int = 1,
                   min_iterations: int = 3, min_seconds: float = 2.0) -> BenchResult:
    """Time ``restorer.restore`` on random faces of one batch size (``None``: the size ``auto`` picks).

    The batch goes through :class:`~facefix.batching.Batches` like every other model call, but without
    halving: a batch that does not fit is an error, never a smaller batch timed under the requested size.
    """
    device = restorer.device
    batches = Batches(device, batch_size, name=restorer.name, halve=False)
    if batch_size is None:
        batches.map(lambda chunk: restorer.restore(_random_faces(restorer, len(chunk))), [0])
        batch_size = batches.batch_size
    faces = _random_faces(restorer, batch_size)
    indices = range(batch_size)

    def restore_batch() -> None:
        batches.map(lambda chunk: restorer.restore(faces[:len(chunk)]), indices)

    for _ in range(warmup):
        restore_batch()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    iterations, start = 0, time.perf_counter()
    while iterations < min_iterations or time.perf_counter() - start < min_seconds:
        restore_batch()
        iterations += 1
    synchronize(device)
    elapsed = time.perf_counter() - start
    per_batch = elapsed / iterations
    return BenchResult(
        backend=restorer.name, device=str(device), precision=precision, face_size=restorer.face_size,
        batch_size=batch_size, iterations=iterations, seconds_per_batch=per_batch,
        seconds_per_face=per_batch / batch_size, faces_per_second=batch_size / per_batch,
        peak_memory_mib=_peak_memory_mib(device), threads=torch.get_num_threads(), faces=batch_size,
    )


def _random_faces(restorer: Restorer, count: int) -> torch.Tensor:
    return torch.rand(count, 3, restorer.face_size, restorer.face_size, device=restorer.device)


def compile_restorer(restorer: Restorer) -> None:
    """Replace a restorer's network by its ``torch.compile`` version (backends that keep it in ``network``)."""
    network = getattr(restorer, "network", None)
    if not isinstance(network, torch.nn.Module):
        raise FacefixError(f"--compile: the {restorer.name} backend has no single network to compile")
    restorer.network = torch.compile(network)


def _peak_memory_mib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else peak_rss_mib()


def bench_pipeline(pipeline: FaceRestorePipeline, items: list[InputFile], *, precision: str,
                   images_per_batch: int = 4, warmup: int = 1, min_iterations: int = 1,
                   min_seconds: float = 0.0) -> BenchResult:
    """Time ``facefix restore`` on ``items`` (photos and videos), written to a scratch folder.

    An iteration is one pass over all items, decoding, detecting, restoring, pasting and encoding.
    """
    from facefix.runner import OutputOptions, restore_files

    device = pipeline.restorer.device
    stages: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="facefix_bench_") as scratch:
        options = OutputOptions(output_dir=Path(scratch), overwrite=True)

        def one_pass() -> int:
            reports = restore_files(items, pipeline, options, images_per_batch=images_per_batch)
            failed = [report.error for report in reports if report.status == "failed"]
            if failed:
                raise FacefixError(f"bench: {failed[0]}")
            for report in reports:
                for stage, seconds in report.seconds.items():
                    stages[stage] = stages.get(stage, 0.0) + seconds
            return sum(report.face_count for report in reports)

        for _ in range(warmup):
            one_pass()
        synchronize(device)
        stages.clear()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        iterations, faces, start = 0, 0, time.perf_counter()
        while iterations < min_iterations or time.perf_counter() - start < min_seconds:
            faces = one_pass()
            iterations += 1
        synchronize(device)
        elapsed = time.perf_counter() - start
    per_pass = elapsed / iterations
    return BenchResult(
        backend=pipeline.restorer.name, device=str(device), precision=precision,
        face_size=pipeline.restorer.face_size, batch_size=pipeline.batch_size, iterations=iterations,
        seconds_per_batch=per_pass, seconds_per_face=per_pass / max(faces, 1),
        faces_per_second=faces / per_pass, peak_memory_mib=_peak_memory_mib(device),
        threads=torch.get_num_threads(), scope="pipeline", faces=faces,
        seconds={stage: total / iterations for stage, total in stages.items()},
    )


@dataclass(frozen=True)
class UpsamplerBenchResult:
    """The background upsampler on one random picture: seconds per megapixel of input."""

    scale: int
    device: str
    precision: str
    width: int
    height: int
    tile: int  # input pixels per tile side, 0 = whole picture (after any out-of-memory halving)
    iterations: int
    seconds_per_picture: float
    seconds_per_megapixel: float
    peak_memory_mib: float
    threads: int
    scope: str = "background"

    def summary(self) -> str:
        tiles = f"tiles of {self.tile} px" if self.tile else "whole picture"
        return (f"background upsampler x{self.scale} on {self.device} ({self.precision}, {tiles}): "
                f"{self.width}x{self.height} in {self.seconds_per_picture:.2f} s, "
                f"{self.seconds_per_megapixel:.2f} s per input megapixel, peak {self.peak_memory_mib:.0f} MiB")


def bench_upsampler(upsampler: BackgroundUpsampler, *, size: tuple[int, int], precision: str, warmup: int = 1,
                    min_iterations: int = 1, min_seconds: float = 2.0) -> UpsamplerBenchResult:
    """Time :meth:`BackgroundUpsampler.enhance` on a random ``size`` (width, height) uint8 picture."""
    width, height = size
    picture = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    device = upsampler.device
    for _ in range(warmup):
        upsampler.enhance(picture)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    iterations, start = 0, time.perf_counter()
    while iterations < min_iterations or time.perf_counter() - start < min_seconds:
        upsampler.enhance(picture)
        iterations += 1
    synchronize(device)
    per_picture = (time.perf_counter() - start) / iterations
    return UpsamplerBenchResult(
        scale=upsampler.scale, device=str(device), precision=precision, width=width, height=height,
        tile=upsampler.tile, iterations=iterations, seconds_per_picture=per_picture,
        seconds_per_megapixel=per_picture / (width * height / 1e6), peak_memory_mib=_peak_memory_mib(device),
        threads=torch.get_num_threads())


def results_to_json(results: list[BenchResult | UpsamplerBenchResult]) -> str:
    return json.dumps([asdict(r) for r in results], indent=2)


def time_interleaved(candidates: dict[str, Callable[[], object]], *, rounds: int, warmup: int = 1,
                     device: torch.device | None = None) -> dict[str, list[float]]:
    """Seconds per call of each candidate, measured A B A B ... so that load from other processes
    (shared CPUs, thermal changes) falls on all candidates alike; compare their medians."""
    for _ in range(warmup):
        for run in candidates.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            if device is not None:
                synchronize(device)
            start = time.perf_counter()
            run()
            if device is not None:
                synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(values) for name, values in times.items()}
