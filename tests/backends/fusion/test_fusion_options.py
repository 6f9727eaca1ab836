"""Fidelity knob and reduced precision on the golden network."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_path

from facefix.backends.base import RestoreOptions
from facefix.backends.fusion import FusionRestorer, load_fusion_network


@pytest.fixture(scope="module")
def golden():
    return torch.load(shared_path("reference", "gfpgan_clean_small.golden.pt"), weights_only=True)


@pytest.fixture(scope="module")
def state_dict(golden):
    return golden["state_dict"]


@pytest.fixture(scope="module")
def faces(golden):
    """Random faces of the golden network's size (read from the golden, as the network's config is)."""
    return torch.rand(golden["input"].shape, generator=torch.Generator().manual_seed(0))


def _restorer(state_dict, **options) -> FusionRestorer:
    dtype = options.pop("dtype", torch.float32)
    return FusionRestorer.from_state_dict(state_dict, config=None, device=torch.device("cpu"), dtype=dtype,
                                          options=RestoreOptions(**options))


def test_fidelity_one_is_gfpgan_and_lower_fidelity_moves_away_monotonically(state_dict, faces):
    reference = _restorer(state_dict).restore(faces)
    assert torch.equal(_restorer(state_dict, fidelity=1.0).restore(faces), reference)
    distances = [(_restorer(state_dict, fidelity=f).restore(faces) - reference).abs().mean().item()
                 for f in (1.0, 0.75, 0.5, 0.25, 0.0)]
    assert distances[0] == 0
    assert all(a < b for a, b in zip(distances, distances[1:])), distances


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_stays_close_to_fp32(state_dict, faces, dtype):
    reference = _restorer(state_dict).restore(faces)
    try:
        reduced = _restorer(state_dict, dtype=dtype).restore(faces)
    except RuntimeError as exc:  # some CPU builds lack half-precision kernels
        pytest.skip(f"{dtype} not supported on this CPU: {exc}")
    assert torch.isfinite(reduced).all()
    grey_levels = (reduced - reference).abs().mean().item() * 255
    assert grey_levels < 2.0, grey_levels


def test_fp16_demodulation_would_overflow_without_fp32():
    # The reason the modulated weights are built in float32: the sum of squares leaves fp16's range.
    weight = torch.full((1, 512, 512, 3, 3), 0.5)
    style = torch.full((1, 1, 512, 1, 1), 4.0)
    assert torch.isinf((weight * style).half().pow(2).sum()).item()
    assert torch.isfinite((weight * style).pow(2).sum()).item()


def test_channels_last_on_the_cpu_gives_the_nchw_result(state_dict, faces):
    restorer = _restorer(state_dict)
    assert restorer.memory_format == torch.channels_last  # measured faster on the CPU (see FusionRestorer)
    nchw = load_fusion_network(state_dict).eval()
    with torch.inference_mode():
        expected = ((nchw(faces * 2 - 1).image.clamp(-1, 1) + 1) / 2)
    assert (restorer.restore(faces) - expected).abs().max() < 1e-5
