"""Fixtures shared by the whole suite: paths to ../shared, tiny images, an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

# One intra-op thread (before torch is first imported; subprocesses inherit it). The test networks are tiny:
# a second thread gains little, and where other work shares the cores OpenMP's spinning threads make a
# tiny forward pass up to 18x slower (measured: 0.38 s -> 6.9 s). OMP_NUM_THREADS set by the caller wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEFIX_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (tests that use ../shared need the project's shared folder)")
    return path


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty weight cache and never touches the network by accident."""
    home = tmp_path_factory.mktemp("facefix_home")
    monkeypatch.setenv("FACEFIX_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    return home


@pytest.fixture(autouse=True)
def _probe_finds_bf16_no_faster(request, monkeypatch):
    """``--precision auto`` times fp32 against bf16 on the CPU; here that probe finds them equal, so outputs
    are fp32 whatever the machine's load, and no test pays for a probe. Tests of the probe itself are marked
    ``real_precision_probe``."""
    if request.node.get_closest_marker("real_precision_probe"):
        return
    from facefix import precision

    monkeypatch.setattr(precision, "measure",
                        lambda cls, **kwargs: precision.ProbeResult(1.0, 1.0, rounds=1, measured="tests"))


@pytest.fixture
def light_losses():
    """Narrow random VGG-19 and ArcFace stand-ins while the test runs (see helpers.training)."""
    from helpers.training import light_loss_networks

    with light_loss_networks():
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A loopback HTTP server set as FACEFIX_MIRROR; yields ``(folder it serves, server)``."""
    from helpers.http_server import FileServer

    folder = tmp_path / "mirror"
    folder.mkdir()
    server = FileServer(folder)
    monkeypatch.setenv("FACEFIX_MIRROR", server.url)
    yield folder, server
    server.close()
