"""`facefix models` against the real registry and a loopback mirror."""

from __future__ import annotations

import hashlib

import pytest
from typer.testing import CliRunner

from facefix import hub, registry
from facefix.cli import app
from facefix.registry import Checkpoint

runner = CliRunner()


def test_list_shows_every_registry_entry():
    result = runner.invoke(app, ["models", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for checkpoint in registry.list_checkpoints():
        assert checkpoint.id in result.output


@pytest.fixture
def mirrored(mirror, monkeypatch):
    """A fake registry entry whose file is only on the loopback mirror."""
    folder, _ = mirror
    payload = b"weights" * 1000
    (folder / "tiny.pth").write_bytes(payload)
    checkpoint = Checkpoint(id="test.tiny", urls=("https://example.invalid/tiny.pth",), filename="tiny.pth",
                            license="test", sha256=hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(registry, "_load_all", lambda: {checkpoint.id: checkpoint})
    return checkpoint, payload


def test_download_verify_path_remove_against_a_mirror(mirrored):
    checkpoint, payload = mirrored
    result = runner.invoke(app, ["models", "download", "test.tiny"])
    assert result.exit_code == 0, result.output
    assert hub.checkpoint_path(checkpoint).read_bytes() == payload

    assert runner.invoke(app, ["models", "verify"]).exit_code == 0
    hub.checkpoint_path(checkpoint).write_bytes(b"corrupt")
    result = runner.invoke(app, ["models", "verify"])
    assert result.exit_code == 1 and "corrupt" in result.output

    result = runner.invoke(app, ["models", "path", "test.tiny"])
    assert result.stdout.strip() == str(hub.checkpoint_path(checkpoint))

    assert runner.invoke(app, ["models", "remove", "test.tiny"], input="n\n").exit_code == 1
    assert hub.checkpoint_path(checkpoint).exists()
    assert runner.invoke(app, ["models", "remove", "test.tiny", "--yes"]).exit_code == 0
    assert not hub.checkpoint_path(checkpoint).exists()


def test_unknown_id_is_one_line_error():
    result = runner.invoke(app, ["models", "download", "nope.x"])
    assert result.exit_code == 1
    assert "unknown checkpoint 'nope.x'" in result.output
    assert "Traceback" not in result.output
