"""The checkpoint registry in weights/*.toml: well-formed, unique, one default per backend."""

from __future__ import annotations

import pytest

from facefix import registry
from facefix.backends import BACKENDS
from facefix.errors import CheckpointError


def test_every_entry_is_well_formed():
    checkpoints = registry.list_checkpoints()
    assert checkpoints, "the registry is empty"
    for checkpoint in checkpoints:
        assert "." in checkpoint.id, checkpoint.id
        assert checkpoint.urls and all(u.startswith("https://") for u in checkpoint.urls), checkpoint.id
        assert checkpoint.license, checkpoint.id
        assert checkpoint.sha256 is None or len(checkpoint.sha256) == 64, checkpoint.id


def test_each_group_with_a_default_has_exactly_one():
    groups = {c.group for c in registry.list_checkpoints()}
    for group in groups & (set(BACKENDS) | {"face"}):
        assert sum(c.default for c in registry.list_checkpoints(group)) == 1, group


def test_unknown_id_names_the_known_ones():
    with pytest.raises(CheckpointError, match="unknown checkpoint 'nope.x'"):
        registry.get_checkpoint("nope.x")


def test_unknown_fields_are_rejected(tmp_path, monkeypatch):
    (tmp_path / "x.toml").write_text(
        '[[checkpoint]]\nid = "x.y"\nurls = ["https://e/x"]\nfilename = "x"\nlicense = "MIT"\nsha = "typo"\n'
    )
    monkeypatch.setattr(registry, "registry_dir", lambda: tmp_path)
    registry._load_all.cache_clear()
    try:
        with pytest.raises(CheckpointError, match="unknown field"):
            registry.list_checkpoints()
    finally:
        registry._load_all.cache_clear()
