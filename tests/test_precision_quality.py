"""The quality gate of ``--precision auto``: on real faces, every reduced precision a backend claims safe
(``bf16_safe``, ``fp16_safe``: what auto may pick for it) stays within 1.5 grey levels of fp32 on average
and 12 at the 99.9th percentile, on the golden configs (random weights, 64 px; ddpm's 32 px)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_path

from facefix.backends.base import RestoreOptions
from facefix.backends.ddpm import DDPMInpainter
from facefix.backends.fusion import FusionRestorer
from facefix.backends.interlcm import InterLCMRestorer
from facefix.backends.interlcm.components import TINY_CONFIGS
from facefix.backends.mmrb import MMRBRestorer
from facefix.media import read_image
from facefix.pipeline import to_tensor

MEAN_GATE, P999_GATE = 1.5, 12.0
REAL_FACES = ("0143.png", "0240.png", "0342.png", "0412.png")  # CodeFormer's real degraded crops
CPU = torch.device("cpu")


def real_faces(size: int) -> torch.Tensor:
    folder = shared_path("data", "real", "CodeFormer", "inputs", "cropped_faces")
    crops = [cv2.resize(read_image(folder / name).bgr, (size, size), interpolation=cv2.INTER_AREA)
             for name in REAL_FACES]
    return to_tensor(crops, 255, CPU)


def _golden(name: str) -> dict:
    return torch.load(shared_path("reference", name), weights_only=True)


def _fusion(dtype: torch.dtype):
    golden = _golden("gfpgan_clean_small.golden.pt")
    restorer = FusionRestorer.from_state_dict(golden["state_dict"], config=None, device=CPU, dtype=dtype,
                                              options=RestoreOptions())
    return restorer.restore(real_faces(restorer.face_size))


def _mmrb(dtype: torch.dtype):
    golden = _golden("gpen_small.golden.pt")
    restorer = MMRBRestorer.from_state_dict(golden["state_dict"], config=None, device=CPU, dtype=dtype,
                                            options=RestoreOptions())
    return restorer.restore(real_faces(restorer.face_size))


def _ddpm(dtype: torch.dtype):
    golden = _golden("palette_unet_small.golden.pt")
    size = golden["inputs"]["x"].shape[-1]
    inpainter = DDPMInpainter.from_state_dict(
        golden["state_dict"], config={"num_head_channels": golden["config"]["num_head_channels"], "size": size},
        device=CPU, dtype=dtype, options=RestoreOptions(seed=0, steps=5))
    masks = torch.zeros(len(REAL_FACES), 1, size, size)
    masks[..., size // 4:3 * size // 4, size // 4:3 * size // 4] = 1
    return inpainter.inpaint(real_faces(size), masks)


def _interlcm(dtype: torch.dtype):
    torch.manual_seed(0)  # the same random weights in every precision
    restorer = InterLCMRestorer.from_config(TINY_CONFIGS, dtype=dtype, options=RestoreOptions(seed=3))
    return restorer.restore(real_faces(restorer.face_size)[:1])


BACKENDS = {"fusion": (FusionRestorer, _fusion), "mmrb": (MMRBRestorer, _mmrb), "ddpm": (DDPMInpainter, _ddpm),
            "interlcm": (InterLCMRestorer, _interlcm)}
SLOW = {"ddpm", "interlcm"}  # diffusion samplers: several network passes per face
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def grey_level_gap(reduced: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    """|reduced - reference| in grey levels of 255: the mean and the 99.9th percentile over all pixels."""
    difference = ((reduced.float() - reference).abs() * 255).flatten().numpy()
    return float(difference.mean()), float(np.percentile(difference, 99.9))


def _safe_cases() -> list:
    """Every (backend, precision) the backend claims safe, i.e. that auto may pick for it."""
    return [pytest.param(name, precision, id=f"{name}-{precision}",
                         marks=[pytest.mark.slow] if name in SLOW else [])
            for name, (cls, _) in BACKENDS.items() for precision in DTYPES if getattr(cls, f"{precision}_safe")]


@pytest.mark.parametrize(("backend", "precision"), _safe_cases())
def test_what_auto_can_pick_stays_within_the_gate_on_real_faces(backend, precision):
    run = BACKENDS[backend][1]
    reference = run(torch.float32)
    reduced = run(DTYPES[precision])
    assert torch.isfinite(reduced).all()
    mean, p999 = grey_level_gap(reduced, reference)
    assert mean <= MEAN_GATE and p999 <= P999_GATE, f"{backend} {precision}: mean {mean:.2f}, p99.9 {p999:.2f}"


@pytest.mark.slow
def test_ddpm_in_bf16_leaves_the_gate_so_auto_keeps_it_out():
    assert not DDPMInpainter.bf16_safe
    mean, p999 = grey_level_gap(_ddpm(torch.bfloat16), _ddpm(torch.float32))
    assert p999 > P999_GATE, (mean, p999)


def test_the_gate_would_catch_a_broken_precision():
    reference = _fusion(torch.float32).contiguous()
    assert grey_level_gap(reference + 3 / 255, reference)[0] > MEAN_GATE
    spiky = reference.clone()
    spiky.view(-1)[::500] += 20 / 255
    assert grey_level_gap(spiky, reference)[1] > P999_GATE
