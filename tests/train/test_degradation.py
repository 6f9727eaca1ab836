"""The degradation model: seeded samples are reproducible, and parameters stay in their ranges."""

from __future__ import annotations

import numpy as np
import pytest

from facefix.train.degradation import (GFPGAN_DEGRADATION, MMRB_DEGRADATION, DegradationConfig, degrade,
                                       gaussian_kernel, motion_kernel)


@pytest.fixture
def face():
    """A structured stand-in for a face: 8-pixel checks over a gradient (fine detail that blur removes)."""
    checks = (np.indices((64, 64)) // 8).sum(axis=0) % 2
    gradient = np.linspace(0.2, 0.8, 64, dtype=np.float32)[None, :]
    return np.stack([0.6 * checks + 0.4 * gradient] * 3, axis=2).astype(np.float32)


@pytest.mark.parametrize("config", [GFPGAN_DEGRADATION, MMRB_DEGRADATION])
def test_same_seed_same_sample_other_seed_other_sample(face, config):
    a = degrade(face, np.random.default_rng(7), config)
    b = degrade(face, np.random.default_rng(7), config)
    c = degrade(face, np.random.default_rng(8), config)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == face.shape and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1


def test_kernels_are_normalised_and_sized():
    rng = np.random.default_rng(0)
    for kernel in (gaussian_kernel(rng, GFPGAN_DEGRADATION), motion_kernel(rng, MMRB_DEGRADATION)):
        assert kernel.shape == (41, 41)
        assert abs(kernel.sum() - 1) < 1e-5 and kernel.min() >= 0


def test_stronger_settings_degrade_more(face):
    mild = DegradationConfig(blur_sigma=(0.1, 0.2), downsample=(1, 1.01), noise=(0, 1), jpeg_quality=(95, 100),
                             gray_prob=0)
    harsh = DegradationConfig(blur_sigma=(8, 10), downsample=(7, 8), noise=(20, 25), jpeg_quality=(5, 10), gray_prob=0)
    errors = {name: np.mean([np.abs(degrade(face, np.random.default_rng(s), cfg) - face).mean() for s in range(5)])
              for name, cfg in (("mild", mild), ("harsh", harsh))}
    assert errors["mild"] * 3 < errors["harsh"]


def test_noise_level_within_configured_range(face):
    config = DegradationConfig(blur_sigma=(0.1, 0.1), downsample=(1, 1), noise=(10, 10), jpeg_quality=(100, 100),
                               gray_prob=0)
    flat = np.full((64, 64, 3), 0.5, np.float32)
    residual = degrade(flat, np.random.default_rng(0), config) - 0.5
    assert 6 / 255 < residual.std() < 14 / 255  # sigma 10/255, softened a little by JPEG 100
