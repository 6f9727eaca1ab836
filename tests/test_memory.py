"""Memory helpers: the batch size ``--batch-size auto`` picks, and measuring what work takes."""

from __future__ import annotations

import torch

from facefix.memory import AUTO_BATCH_LIMIT, MemoryUse, batch_size_for, is_out_of_memory

GIB = 2**30


def test_auto_batch_fits_the_free_gpu_memory_within_the_limit():
    cuda = torch.device("cuda")
    assert batch_size_for(cuda, bytes_per_face=GIB, free=10 * GIB) == 8  # 80 % of 10 GiB
    assert batch_size_for(cuda, bytes_per_face=GIB, free=1000 * GIB) == AUTO_BATCH_LIMIT["cuda"]
    assert batch_size_for(cuda, bytes_per_face=GIB, free=GIB // 2) == 1  # never zero: OOM halving takes over
    assert batch_size_for(cuda, bytes_per_face=None, free=10 * GIB) == AUTO_BATCH_LIMIT["cuda"]


def test_auto_batch_on_the_cpu_is_one_face_per_pass():
    assert batch_size_for(torch.device("cpu"), bytes_per_face=None) == AUTO_BATCH_LIMIT["cpu"] == 1


def test_memory_use_is_unknown_off_cuda():
    with MemoryUse(torch.device("cpu")) as memory:
        torch.ones(1024, 1024)
    assert memory.bytes is None


def test_out_of_memory_is_recognised_from_cuda_and_mps_errors_only():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))
