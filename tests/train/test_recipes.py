"""Acceptance: a CPU smoke run of every training recipe runs, checkpoints, and resumes exactly.

Parametrised over the backend table's recipes, so a recipe added there is covered without touching this file. Each run
is 3 steps of 4 faces from 8 (two steps per epoch): the checkpoint at step 1 is in the middle of epoch 0,
and the resumed run crosses into epoch 1.
"""

from __future__ import annotations

import pytest
from conftest import shared_path
from helpers.training import tiny_trainer, write_tiny_faces

from facefix.backends import recipe_class, recipe_names
from facefix import hub

SETTINGS = {"size": 32, "batch_size": 4, "max_steps": 3, "checkpoint_every": 1}


pytestmark = pytest.mark.usefixtures("light_losses")


def _assert_resume_is_exact(method: str, faces, tmp_path) -> None:
    cls = recipe_class(method)
    straight = tiny_trainer(cls, faces, tmp_path / "straight", **SETTINGS).train()
    checkpoint = tmp_path / "straight" / "checkpoints" / "step_0000003"
    assert (checkpoint / "state.pt").exists() and (checkpoint / "ema.safetensors").exists()
    assert hub.read_metadata(checkpoint / "ema.safetensors")["method"] == method

    tiny_trainer(cls, faces, tmp_path / "split", **{**SETTINGS, "max_steps": 1}).train()
    resumed = tiny_trainer(cls, faces, tmp_path / "split", **SETTINGS).train(resume=True)
    assert len(straight) == 3 and len(resumed) == 2
    assert resumed == straight[1:]  # every logged loss, exactly


@pytest.fixture(scope="module")
def generated_faces(tmp_path_factory):
    return write_tiny_faces(tmp_path_factory.mktemp("faces"), count=8)


@pytest.mark.parametrize("method", sorted(recipe_names()))
def test_smoke_run_checkpoints_and_resumes_exactly(method, generated_faces, tmp_path):
    _assert_resume_is_exact(method, generated_faces, tmp_path)


def test_smoke_run_on_lfw_resumes_exactly(tmp_path):
    # real photos (250 px, resized), read through a list file; one method: the others differ only in
    # the recipe, which the generated-faces test covers for each
    lfw = shared_path("data", "faces", "lfw")
    photos = sorted(lfw.rglob("*.jpg"))[:8]
    assert len(photos) == 8
    list_file = tmp_path / "lfw8.txt"
    list_file.write_text("\n".join(str(p) for p in photos) + "\n")
    _assert_resume_is_exact("fusion", list_file, tmp_path)
