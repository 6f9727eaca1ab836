"""Shared by the interlcm tests: the tiny golden (official code on tiny random models) as our parts."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_path

#: golden module name -> our part name
GOLDEN_PARTS = {"visual_encoder": "visual_encoder", "controlnet": "spatial_encoder", "unet": "unet", "vae": "vae",
                "clip_vision": "clip_vision"}


def golden_weights(golden: dict) -> tuple[dict, dict]:
    """``(state_dicts, configs)`` by our part names."""
    state_dicts = {ours: golden["state_dicts"][theirs] for theirs, ours in GOLDEN_PARTS.items()}
    configs = {ours: golden["configs"][theirs] for theirs, ours in GOLDEN_PARTS.items() if theirs != "visual_encoder"}
    return state_dicts, configs


def golden_bundle(golden: dict) -> dict[str, torch.Tensor]:
    """All five parts in one part-prefixed state dict, as ``facefix train export`` writes it."""
    state_dicts, _ = golden_weights(golden)
    return {f"{part}.{key}": value for part, state in state_dicts.items() for key, value in state.items()}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: the golden was made so (2 threads differ by ~1e-5), and tiny models on a
    busy 2-core machine run 40x faster without thread hand-offs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def golden():
    return torch.load(shared_path("reference", "interlcm_tiny.golden.pt"), weights_only=True)
