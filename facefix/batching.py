"""The one batching engine: a model call mapped over items in chunks, sized to fit the device.

Restore, inpaint, eval and bench push faces through a model with :class:`Batches`. A chunk that runs
out of device memory is split in half and the smaller size is kept for the rest of the run, so a
too-large ``--batch-size`` slows a run down instead of failing it. ``batch_size=None``
(``--batch-size auto``) runs the first item alone, measures the memory it took, and sizes the
following chunks from the device's free memory (:func:`~facefix.memory.batch_size_for`).

``halve=False`` is for measurements (``facefix bench``): a batch that does not fit is an error naming
its size, never silently a smaller batch reported under the requested size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import torch

from facefix.errors import FacefixError
from facefix.memory import MemoryUse, batch_size_for, is_out_of_memory, release_cached_memory

Item = TypeVar("Item")
Output = TypeVar("Output")


class Batches:
    """Chunks of ``batch_size`` items for one model on ``device``; the size it settles on is kept
    across :meth:`map` calls, so one instance serves a whole run.

    ``name`` (the model's) starts the error messages.
    """

    def __init__(self, device: torch.device, batch_size: int | None, *, name: str, halve: bool = True):
        if batch_size is not None and batch_size < 1:
            raise FacefixError(f"batch size {batch_size}: must be a positive number of faces")
        self.device = device
        self.batch_size = batch_size
        self.name = name
        self.halve = halve

    def map(self, run: Callable[[Sequence[Item]], Iterable[Output]], items: Sequence[Item],
            on_chunk: Callable[[int], None] | None = None) -> list[Output]:
        """``run`` over ``items`` chunk by chunk, in inference mode; the outputs, one per item, in order.

        ``run`` takes a chunk of items and returns one output per item; ``on_chunk`` is told how many
        items each finished chunk held (for progress bars).
        """
        outputs: list[Output] = []
        with torch.inference_mode():
            while len(outputs) < len(items):
                chunk = items[len(outputs):len(outputs) + (self.batch_size or 1)]
                done = self._run_chunk(run, chunk)
                if done is None:
                    self._shrink(len(chunk))
                    continue
                outputs += done
                if on_chunk is not None:
                    on_chunk(len(chunk))
        return outputs

    def _run_chunk(self, run: Callable[[Sequence[Item]], Iterable[Output]],
                   chunk: Sequence[Item]) -> list[Output] | None:
        """The chunk's outputs, or None when the device ran out of memory."""
        probing = self.batch_size is None  # --batch-size auto: one item first, to see what it takes
        # measured only then: measuring resets the allocator's peak, which `facefix bench` reports
        memory = MemoryUse(self.device) if probing else contextlib.nullcontext()
        try:
            with memory:
                done = list(run(chunk))
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            # None, not a retry from here: the traceback would keep the failed call's tensors alive
            return None
        if probing:
            self.batch_size = batch_size_for(self.device, memory.bytes)
        return done

    def _shrink(self, failed: int) -> None:
        """After a chunk of ``failed`` items ran out of memory: halve the batch, or say why not."""
        if failed == 1:
            raise FacefixError(f"{self.name}: out of memory on {self.device} even for one face; "
                               "try --precision bf16 or --device cpu")
        if not self.halve:
            raise FacefixError(f"{self.name}: a batch of {failed} faces does not fit in {self.device} memory; "
                               "choose a smaller batch size")
        release_cached_memory(self.device)
        self.batch_size = (failed + 1) // 2
