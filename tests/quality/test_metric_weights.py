"""Metric networks take their weights through the hub (served here by a loopback mirror)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from facefix import hub, registry
from facefix.quality.metrics import IdentityMetric, LPIPSMetric


@pytest.fixture(autouse=True)
def _unpinned(monkeypatch):
    """The served files are random stand-ins, so drop the registry's sha256 pins."""
    unpinned = {c.id: dataclasses.replace(c, sha256=None) for c in registry.list_checkpoints()}
    monkeypatch.setattr(registry, "_load_all", lambda: unpinned)


def test_lpips_backbone_comes_from_the_mirror(mirror, monkeypatch):
    from torchvision.models import vgg16

    folder, server = mirror
    torch.manual_seed(0)
    torch.save(vgg16().state_dict(), folder / "vgg16-397923af.pth")
    # a random stand-in cannot match the hash prefix in PyTorch's file name: pin the stand-in's own hash
    pinned = dataclasses.replace(registry.get_checkpoint("metrics.vgg16"),
                                 sha256=hub.sha256_of(folder / "vgg16-397923af.pth"))
    monkeypatch.setitem(registry._load_all(), "metrics.vgg16", pinned)
    metric = LPIPSMetric()
    assert server.log.requests == ["/vgg16-397923af.pth"]
    assert hub.checkpoint_path(registry.get_checkpoint("metrics.vgg16")).exists()
    first_conv = metric.model.net.slice1[0].weight
    assert torch.equal(first_conv, torch.load(folder / "vgg16-397923af.pth", weights_only=True)["features.0.weight"])
    image = np.full((64, 64, 3), 120, np.uint8)
    assert metric(image, image) < 1e-6


def test_arcface_comes_from_the_mirror(mirror):
    from facexlib.recognition.arcface_arch import Backbone

    folder, server = mirror
    torch.manual_seed(0)
    torch.save(Backbone(num_layers=50, drop_ratio=0.6, mode="ir_se").state_dict(),
               folder / "recognition_arcface_ir_se50.pth")
    metric = IdentityMetric()
    assert server.log.requests == ["/recognition_arcface_ir_se50.pth"]
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert metric(image, image) == 0.0
