"""`facefix train export`: the file is the recipe's export of the EMA weights, and it restores as validation did.

Parametrised over the backend table's recipes, so a recipe added there is covered without touching this
file. A run is one step with ``ema_decay`` 0.5, so its EMA weights differ from its live ones.
"""

from __future__ import annotations

import json
import re

import pytest
import torch
from helpers.training import tiny_trainer, write_tiny_faces

from facefix import hub
from facefix.backends import (RestoreOptions, backend_class, inpainter_class, recipe_class, recipe_names,
                              restorer_names)
from facefix.errors import FacefixError
from facefix.face.masks import center_mask
from facefix.train.export import export_run, find_checkpoint

SIZE = 32
SETTINGS = {"size": SIZE, "batch_size": 2, "max_steps": 1, "checkpoint_every": 1, "ema_decay": 0.5}

pytestmark = pytest.mark.usefixtures("light_losses")


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return write_tiny_faces(tmp_path_factory.mktemp("faces"), count=4, size=SIZE)


def _inference(method: str, trainer, path):
    """``(the exported file through the backend's own loading, the run's own inference)``, face batch -> faces."""
    if method in restorer_names():
        loaded = backend_class(method).load(str(path))
        assert loaded.face_size == SIZE
        return loaded.restore, trainer.recipe.validation_restorer(trainer.ema)
    # an inpainting method (no validation restorer): the file's inpainter against one on the EMA network
    assert method == "ddpm", f"{method}: say here what its export is compared with"
    from facefix.backends.ddpm import DDPMInpainter

    options = RestoreOptions(seed=0, steps=2)
    loaded = inpainter_class(method).load(str(path), options=options)
    direct = DDPMInpainter(trainer.ema, conditional=True, face_size=SIZE, device=torch.device("cpu"),
                           dtype=torch.float32, options=options)
    assert loaded.face_size == SIZE and loaded.conditional
    mask = torch.from_numpy(center_mask(SIZE, SIZE)).float()[None, None]

    def centre_filled(inpainter):
        return lambda x: inpainter.inpaint(x, mask.expand(len(x), -1, -1, -1))

    return centre_filled(loaded), centre_filled(direct)


@pytest.mark.parametrize("method", sorted(recipe_names()))
def test_export_is_the_recipes_export_of_the_ema_and_restores_as_validation_did(method, faces, tmp_path):
    trainer = tiny_trainer(recipe_class(method), faces, tmp_path / "run", **SETTINGS)
    trainer.train()
    path = tmp_path / "exported.safetensors"
    export_run(tmp_path / "run", path, recipe_class)

    weights, metadata = trainer.recipe.export(trainer.ema)
    assert metadata["facefix_method"] == method and hub.read_metadata(path) == metadata
    exported = hub.load_state_dict(path)
    assert exported.keys() == weights.keys()
    assert all(torch.equal(exported[key], value) for key, value in weights.items())
    live = trainer.recipe.generator.state_dict()
    assert any(not torch.equal(exported[key], live[key]) for key in live)  # the EMA, not the live weights

    loaded, expected = _inference(method, trainer, path)
    x = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded(x), expected(x), rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def fusion_run(faces, tmp_path_factory):
    """A fusion run with one checkpoint (of the initial weights: the errors need no training)."""
    run = tmp_path_factory.mktemp("fusion") / "run"
    tiny_trainer(recipe_class("fusion"), faces, run, **SETTINGS).save()
    return run


def _rewritten(run, tmp_path, **metadata):
    """A copy of ``run``'s EMA file, its metadata changed."""
    ema = find_checkpoint(run) / "ema.safetensors"
    folder = tmp_path / "checkpoint"
    hub.save_state_dict(hub.load_state_dict(ema), folder / "ema.safetensors", {**hub.read_metadata(ema), **metadata})
    return folder


def test_errors_name_the_file(fusion_run, tmp_path):
    out = tmp_path / "out.safetensors"

    def fails(run, expected: str, output=out):
        with pytest.raises(FacefixError, match=expected):
            export_run(run, output, recipe_class)

    fails(tmp_path, f"{re.escape(str(tmp_path))}: no checkpoint found")
    config = json.loads(hub.read_metadata(find_checkpoint(fusion_run) / "ema.safetensors")["config"])
    ema = re.escape(str(tmp_path / "checkpoint" / "ema.safetensors"))
    fails(_rewritten(fusion_run, tmp_path, method="gfpgan"), f"{ema}: trained with method 'gfpgan'")
    fails(_rewritten(fusion_run, tmp_path, config="{"), f"{ema}: no readable training config")
    fails(_rewritten(fusion_run, tmp_path, config=json.dumps({**config, "size": 64})),
          f"{ema}: does not fit the fusion network its config describes")
    fails(_rewritten(fusion_run, tmp_path, config=json.dumps({**config, "learning_rate": 1})),
          f"{ema}: cannot rebuild its fusion recipe: saved config: unknown config key")
    fails(fusion_run, "an inference file is written as .safetensors", output=tmp_path / "out.pth")

    export_run(fusion_run, out, recipe_class)
    fails(fusion_run, f"{re.escape(str(out))}: already exists")
    export_run(fusion_run, out, recipe_class, overwrite=True)
