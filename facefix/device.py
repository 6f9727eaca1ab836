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
