"""The degradation model: seeded samples are reproducible, and parameters stay in their ranges."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facefix.quality.degradation import (CODEFORMER_DEGRADATION, GFPGAN_DEGRADATION, MMRB_DEGRADATION,
                                       DegradationConfig, degrade, gaussian_kernel, motion_kernel)


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


def _only(config: DegradationConfig, **active) -> DegradationConfig:
    """``config`` with every stage switched to (almost) nothing except those given."""
    quiet = {"blur_sigma": (0.1, 0.1), "anisotropic_prob": 0.0, "motion_prob": 0.0, "downsample": (1.0, 1.0),
             "noise": (0.0, 0.0), "poisson_prob": 0.0, "jpeg_quality": (100, 100), "gray_prob": 0.0,
             "color_jitter_prob": 0.0}
    return dataclasses.replace(config, **{**quiet, **active})


@pytest.mark.parametrize("config", [GFPGAN_DEGRADATION, MMRB_DEGRADATION, CODEFORMER_DEGRADATION],
                         ids=["gfpgan", "mmrb", "codeformer"])
def test_noise_sigma_spans_each_recipes_range_and_no_more(config):
    flat = np.full((64, 64, 3), 0.5, np.float32)
    noise_only = _only(config, noise=config.noise)
    sigmas = [(degrade(flat, np.random.default_rng(s), noise_only) - 0.5).std() * 255 for s in range(12)]
    high = config.noise[1]
    assert max(sigmas) <= high * 1.1 + 1  # never above the range (JPEG 100 adds about 1/255)
    assert max(sigmas) >= 0.6 * high and min(sigmas) <= 0.5 * high  # and the range is explored


def test_down_sampling_by_more_than_the_detail_period_destroys_it():
    stripes = np.zeros((64, 64, 3), np.float32)
    stripes[:, ::4] = stripes[:, 1::4] = 1.0  # a 4-px period
    kept = degrade(stripes, np.random.default_rng(0), _only(GFPGAN_DEGRADATION, downsample=(1.0, 1.0)))
    lost = degrade(stripes, np.random.default_rng(0), _only(GFPGAN_DEGRADATION, downsample=(6.0, 6.0)))
    assert np.abs(kept - stripes).mean() < 0.02 and np.abs(lost - stripes).mean() > 0.2


def test_grayscale_and_colour_jitter_stay_within_their_settings(face):
    gray = degrade(face, np.random.default_rng(0), _only(GFPGAN_DEGRADATION, gray_prob=1.0))
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    shift = 20.0
    for seed in range(6):
        jittered = degrade(face, np.random.default_rng(seed),
                           _only(GFPGAN_DEGRADATION, color_jitter_prob=1.0, color_jitter_shift=shift))
        plain = degrade(face, np.random.default_rng(seed), _only(GFPGAN_DEGRADATION))
        channel_shift = np.abs((jittered - plain).reshape(-1, 3).mean(axis=0)) * 255
        assert channel_shift.max() <= shift + 0.5 and channel_shift.max() > 0.5


def test_lower_jpeg_quality_loses_more(face):
    errors = [np.abs(degrade(face, np.random.default_rng(0), _only(GFPGAN_DEGRADATION, jpeg_quality=(q, q))) - face)
              .mean() for q in (100, 50, 5)]
    assert errors[0] < errors[1] < errors[2]
