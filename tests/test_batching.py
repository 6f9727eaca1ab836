"""The batching engine: chunks, out-of-memory halving, ``--batch-size auto``, bench's fixed mode."""

from __future__ import annotations

import pytest
import torch

import facefix.batching
from facefix.batching import Batches
from facefix.errors import FacefixError

CPU = torch.device("cpu")


class SmallDevice:
    """A model that runs out of memory on chunks larger than ``limit`` items, like a small GPU."""

    def __init__(self, limit: int):
        self.limit = limit
        self.calls: list[int] = []

    def __call__(self, chunk):
        self.calls.append(len(chunk))
        if len(chunk) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [item * 10 for item in chunk]


def test_items_go_in_chunks_of_the_batch_size_and_come_back_in_order():
    model, done = SmallDevice(limit=100), []
    outputs = Batches(CPU, 3, name="model").map(model, list(range(8)), on_chunk=done.append)
    assert outputs == [item * 10 for item in range(8)]
    assert model.calls == [3, 3, 2] and done == [3, 3, 2]


def test_runs_in_inference_mode():
    modes = Batches(CPU, 2, name="model").map(lambda chunk: [torch.is_inference_mode_enabled()] * len(chunk), [1, 2])
    assert modes == [True, True]


def test_out_of_memory_halves_the_chunk_and_the_smaller_size_is_kept_for_later_calls():
    model = SmallDevice(limit=2)
    batches = Batches(CPU, 8, name="model")
    assert batches.map(model, list(range(7))) == [item * 10 for item in range(7)]
    assert model.calls == [7, 4, 2, 2, 2, 1] and batches.batch_size == 2
    model.calls.clear()
    assert batches.map(model, list(range(3))) == [0, 10, 20]
    assert model.calls == [2, 1]  # the next call of the run starts at the size that fitted


def test_auto_probes_one_item_then_sizes_the_rest_from_its_measured_memory(monkeypatch):
    asked: list[tuple[str, int | None]] = []
    monkeypatch.setattr(facefix.batching, "batch_size_for",
                        lambda device, bytes_per_face: asked.append((device.type, bytes_per_face)) or 3)
    model = SmallDevice(limit=100)
    batches = Batches(CPU, None, name="model")
    assert batches.map(model, list(range(8))) == [item * 10 for item in range(8)]
    assert model.calls == [1, 3, 3, 1] and batches.batch_size == 3
    assert asked == [("cpu", None)]  # the CPU keeps no allocator count: sized without a measurement


def test_auto_on_the_cpu_is_one_item_per_call():
    model = SmallDevice(limit=100)
    Batches(CPU, None, name="model").map(model, list(range(3)))
    assert model.calls == [1, 1, 1]


def test_one_item_that_does_not_fit_is_a_one_line_error():
    with pytest.raises(FacefixError, match="model: out of memory on cpu even for one face"):
        Batches(CPU, 4, name="model").map(SmallDevice(limit=0), list(range(3)))
    with pytest.raises(FacefixError, match="even for one face"):
        Batches(CPU, None, name="model").map(SmallDevice(limit=0), [1])


def test_fixed_mode_refuses_a_batch_that_does_not_fit_instead_of_shrinking_it():
    model = SmallDevice(limit=2)
    with pytest.raises(FacefixError, match="a batch of 4 faces does not fit in cpu memory"):
        Batches(CPU, 4, name="model", halve=False).map(model, list(range(4)))
    assert model.calls == [4]


def test_other_errors_are_not_taken_for_out_of_memory():
    def broken(chunk):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes"):
        Batches(CPU, 2, name="model").map(broken, [1, 2])


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(FacefixError, match="batch size 0"):
        Batches(CPU, 0, name="model")
