"""Device helpers: memory layout of weights."""

from __future__ import annotations

import torch
from torch import nn

from facefix.device import to_memory_format


def test_weights_move_to_channels_last_even_beside_five_dimensional_parameters():
    module = nn.Module()
    module.conv = nn.Conv2d(4, 8, 3)
    module.modulated = nn.Parameter(torch.randn(1, 8, 4, 3, 3))  # Module.to(memory_format=...) refuses this
    to_memory_format(module, torch.channels_last)
    assert module.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not module.conv.weight.is_contiguous()
    assert module.modulated.shape == (1, 8, 4, 3, 3)
