"""bf16 and fp16 against fp32 on the golden configs of the mmrb and ddpm backends: no NaNs, and
within 2 grey levels on average (fusion and interlcm test theirs beside their other options)."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_path

from facefix.backends.base import RestoreOptions
from facefix.backends.ddpm import DDPMInpainter
from facefix.backends.mmrb import MMRBRestorer

REDUCED = [torch.bfloat16, torch.float16]


def _golden(name: str) -> dict:
    return torch.load(shared_path("reference", name), weights_only=True)


def _grey_levels(reduced: torch.Tensor, reference: torch.Tensor) -> float:
    assert torch.isfinite(reduced).all()
    return (reduced.float() - reference).abs().mean().item() * 255


@pytest.mark.parametrize("dtype", REDUCED)
def test_mmrb_reduced_precision_stays_close_to_fp32(dtype):
    golden = _golden("gpen_small.golden.pt")
    faces = (golden["input"] + 1) / 2

    def restore(precision):
        return MMRBRestorer.from_state_dict(golden["state_dict"], config=None, device=torch.device("cpu"),
                                            dtype=precision, options=RestoreOptions()).restore(faces)

    assert _grey_levels(restore(dtype), restore(torch.float32)) < 2.0


@pytest.mark.parametrize("dtype", REDUCED)
def test_ddpm_reduced_precision_stays_close_to_fp32(dtype):
    golden = _golden("palette_unet_small.golden.pt")
    size = golden["inputs"]["x"].shape[-1]
    faces = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    masks = torch.zeros(2, 1, size, size)
    masks[..., size // 4:3 * size // 4, size // 4:3 * size // 4] = 1

    def inpaint(precision):
        inpainter = DDPMInpainter.from_state_dict(
            golden["state_dict"], config={"num_head_channels": golden["config"]["num_head_channels"], "size": size},
            device=torch.device("cpu"), dtype=precision, options=RestoreOptions(seed=0, steps=5))
        return inpainter.inpaint(faces, masks)

    reduced, reference = inpaint(dtype), inpaint(torch.float32)
    assert torch.equal(reduced * (1 - masks), faces * (1 - masks))
    assert _grey_levels(reduced, reference) < 2.0
