"""Fast Fourier convolution blocks against LaMa's outputs."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_path
from torch import nn

from facefix.backends.ddpm.ffc import FFCResnetBlock


@pytest.fixture(scope="module")
def golden():
    return torch.load(shared_path("reference", "ffc_block_small.golden.pt"), weights_only=True)


def _check(block: FFCResnetBlock, case: dict) -> None:
    block.load_state_dict(case["state_dict"])
    with torch.no_grad():
        out_l, out_g = block.eval()((case["inputs"]["x_l"], case["inputs"]["x_g"]))
    assert (out_l - case["output"]["out_l"]).abs().max() < 1e-4
    assert (out_g - case["output"]["out_g"]).abs().max() < 1e-4


def test_lama_block_non_square_without_lfu(golden):
    _check(FFCResnetBlock(golden["config"]["dim"], enable_lfu=False), golden)


def test_lama_block_with_local_fourier_unit(golden):
    case = golden["variants"]["lfu_on"]
    _check(FFCResnetBlock(case["config"]["dim"], enable_lfu=True), case)


def test_inline_form_splits_the_last_channels_as_global(golden):
    block = FFCResnetBlock(16).eval()
    block.load_state_dict(golden["state_dict"])
    x = torch.cat([golden["inputs"]["x_l"], golden["inputs"]["x_g"]], dim=1)
    with torch.no_grad():
        out = block.forward_inline(x)
    expected = torch.cat([golden["output"]["out_l"], golden["output"]["out_g"]], dim=1)
    assert (out - expected).abs().max() < 1e-4


def test_global_path_sees_the_whole_image():
    """One layer of FFC spreads a single-pixel change across the image; a 3x3 conv would reach 3x3 pixels."""
    block = FFCResnetBlock(16, norm_layer=lambda c: nn.GroupNorm(1, c)).eval()
    x = torch.zeros(1, 16, 32, 32)
    y = x.clone()
    y[..., 0, 0] = 1.0
    with torch.no_grad():
        delta = (block.forward_inline(y) - block.forward_inline(x)).abs().sum(dim=1)[0]
    assert delta[16:, 16:].max() > 0
