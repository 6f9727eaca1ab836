"""glibc allocator tuning for CPU inference (a process-wide setting, applied once)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

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
