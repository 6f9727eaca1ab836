"""Device helpers: memory layout of weights, and the batch size ``--batch-size auto`` picks."""

from __future__ import annotations

import torch
from torch import nn

from facefix.device import AUTO_BATCH_LIMIT, MemoryUse, batch_size_for, to_memory_format

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


def test_weights_move_to_channels_last_even_beside_five_dimensional_parameters():
    module = nn.Module()
    module.conv = nn.Conv2d(4, 8, 3)
    module.modulated = nn.Parameter(torch.randn(1, 8, 4, 3, 3))  # Module.to(memory_format=...) refuses this
    to_memory_format(module, torch.channels_last)
    assert module.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not module.conv.weight.is_contiguous()
    assert module.modulated.shape == (1, 8, 4, 3, 3)
