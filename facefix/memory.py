"""Device memory: recognising out-of-memory errors, measuring what work takes, sizing ``--batch-size auto``."""

from __future__ import annotations

import torch


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
    MPS) it is the limit, and a batch that runs out of memory is still halved (:mod:`facefix.batching`)."""
    limit = auto_batch_limit(device)
    free = free_memory(device) if free is None else free
    if not bytes_per_face or free is None:
        return limit
    return max(1, min(limit, int(free * AUTO_BATCH_HEADROOM // bytes_per_face)))
