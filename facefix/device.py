"""Device and precision choices shared by every command."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

import torch

from facefix.errors import FacefixError

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FacefixError(f"--device {name}: CUDA is not available on this machine")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise FacefixError("--device mps: Apple MPS is not available on this machine")
    return torch.device(name)


def resolve_dtype(precision: str) -> torch.dtype:
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise FacefixError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}") from None


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device running out of memory (CUDA's own error, or MPS's RuntimeError)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_cached_memory(device: torch.device) -> None:
    """Give the caching allocator's free blocks back, once, after an out-of-memory error.

    Only then: calling it routinely (per face, as some restoration scripts do) forces every later
    allocation through the driver and slows GPU inference down.
    """
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def compile_restorer(restorer) -> None:
    """Replace a restorer's network by its ``torch.compile`` version (backends that keep it in ``network``)."""
    network = getattr(restorer, "network", None)
    if not isinstance(network, torch.nn.Module):
        raise FacefixError(f"--compile: the {restorer.name} backend has no single network to compile")
    restorer.network = torch.compile(network)


# glibc mallopt() parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


@functools.cache
def keep_freed_cpu_memory() -> bool:
    """Make glibc serve large CPU tensors from its heap and keep freed memory there for reuse.

    By default glibc maps each block above at most 32 MiB with mmap and unmaps it on free (a 512-px,
    64-channel float activation is 64 MiB), so every such tensor is page-faulted in and zeroed by the
    kernel again; a 512-px network does that dozens of times per face. Without mmap and without
    trimming, freed blocks are reused instead (``benchmarks/cpu_allocator.py`` measures the
    difference). The cost: the process keeps its peak resident set until it exits, which a
    command-line run does anyway. Returns whether the settings took effect (False off glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False


def to_memory_format(module: torch.nn.Module, memory_format: torch.memory_format) -> torch.nn.Module:
    """Store the 4-D weights of ``module`` in ``memory_format``.

    ``Module.to(memory_format=...)`` cannot be used: it refuses modules holding 5-D parameters, such as
    StyleGAN2's modulated convolution weights.
    """
    for parameter in module.parameters():
        if parameter.dim() == 4:
            parameter.data = parameter.data.contiguous(memory_format=memory_format)
    return module


def free_memory(device: torch.device) -> int | None:
    """Bytes that new tensors on a CUDA ``device`` can still take (None for other devices)."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    # blocks the caching allocator holds but does not use are free for our tensors too
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


class MemoryUse:
    """Device memory a block of work takes above what was in use when it began: the CUDA caching
    allocator's peak (``bytes``; None on devices that keep no such count)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.bytes: int | None = None
        self._start: int | None = None

    def __enter__(self) -> MemoryUse:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._start is not None and exc_info[0] is None:
            torch.cuda.synchronize(self.device)
            self.bytes = torch.cuda.max_memory_allocated(self.device) - self._start


#: the largest batch ``--batch-size auto`` picks: beyond 32 a GPU gains little; on the CPU a batch is no
#: faster per face (fusion, 512 px, 2 threads: 4.97 s at batch 4, 5.13 s at batch 1) and takes 4x the memory
AUTO_BATCH_LIMIT = {"cuda": 32, "cpu": 1}
#: the share of the free GPU memory ``--batch-size auto`` plans to use
AUTO_BATCH_HEADROOM = 0.8


def auto_batch_limit(device: torch.device) -> int:
    """The largest batch ``--batch-size auto`` uses on ``device`` (:data:`AUTO_BATCH_LIMIT`; 8 elsewhere)."""
    return AUTO_BATCH_LIMIT.get(device.type, 8)


def batch_size_for(device: torch.device, bytes_per_face: int | None, free: int | None = None) -> int:
    """The batch ``--batch-size auto`` uses on ``device``, given what one face took there: as many
    faces as fit in the free memory, at most :func:`auto_batch_limit`. Without a measurement (CPU,
    MPS) it is the limit, and a batch that runs out of memory is still halved by the pipeline."""
    limit = auto_batch_limit(device)
    free = free_memory(device) if free is None else free
    if not bytes_per_face or free is None:
        return limit
    return max(1, min(limit, int(free * AUTO_BATCH_HEADROOM // bytes_per_face)))
