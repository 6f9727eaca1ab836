"""The MMRB block: shapes, identity at initialisation, parameter count, trainability."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from facefix.backends.mmrb.block import MMRB, mmrb_parameter_count


@pytest.mark.parametrize("channels,size", [(8, 16), (32, 9), (64, 4)])
def test_shape_preserved_and_identity_at_init(channels, size):
    block = MMRB(channels)
    x = torch.randn(2, channels, size, size)
    out = block(x)
    assert out.shape == x.shape
    assert torch.equal(out, x)


def test_not_identity_once_the_fusing_conv_moves():
    block = MMRB(16)
    nn.init.normal_(block.fuse.weight, std=0.1)
    x = torch.randn(1, 16, 8, 8)
    assert not torch.allclose(block(x), x)


def test_gradients_reach_every_parameter_from_identity():
    block = MMRB(16)
    x = torch.randn(2, 16, 8, 8)
    (block(x) * torch.randn_like(x)).sum().backward()
    # at identity only the fusing conv gets gradient; after one step the branches do too
    assert block.fuse.weight.grad.abs().sum() > 0
    with torch.no_grad():
        block.fuse.weight.add_(-0.1 * block.fuse.weight.grad)
    block.zero_grad()
    (block(x) * torch.randn_like(x)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())


@pytest.mark.parametrize("channels", [16, 64, 512])
def test_parameter_count_against_residual_blocks(channels):
    """The split keeps MMRB far below a multi-scale residual block (MSRB, Li et al.) with full-width
    3x3/5x5 branches, at about 1.5x a plain two-conv 3x3 residual block."""
    mmrb = sum(p.numel() for p in MMRB(channels).parameters())
    assert mmrb == mmrb_parameter_count(channels)
    c = channels
    plain = 2 * (9 * c * c + c)
    msrb = (9 + 25) * c * c + (9 + 25) * (2 * c) * (2 * c) + 4 * c * c
    assert plain < mmrb < 1.6 * plain
    assert mmrb < msrb / 6


def test_odd_channel_count_is_refused():
    with pytest.raises(ValueError, match="even"):
        MMRB(7)
