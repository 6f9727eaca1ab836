"""The clean StyleGAN2 modulated convolution: the channels-last batch path equals the grouped one."""

from __future__ import annotations

import pytest
import torch

from facefix.backends.fusion.stylegan2_clean import ModulatedConv2d


@pytest.mark.parametrize("kernel_size, demodulate, upsample", [(3, True, False), (3, True, True), (1, False, False)])
def test_modulating_activations_equals_modulating_weights(kernel_size, demodulate, upsample):
    torch.manual_seed(0)
    conv = ModulatedConv2d(6, 5, kernel_size, num_style_feat=8, demodulate=demodulate, upsample=upsample)
    x, style = torch.randn(3, 6, 8, 8), torch.randn(3, 8)
    grouped = conv(x, style)  # NCHW: one grouped convolution over per-sample weights
    batched = conv(x.contiguous(memory_format=torch.channels_last), style)
    assert batched.shape == grouped.shape == (3, 5, 16 if upsample else 8, 16 if upsample else 8)
    assert batched.is_contiguous(memory_format=torch.channels_last)
    assert (batched - grouped).abs().max() < 1e-5
    single = conv(x[:1].contiguous(memory_format=torch.channels_last), style[:1])  # batch 1 keeps the grouped path
    assert (single - grouped[:1]).abs().max() < 1e-5
