"""Metrics agree with basicsr's reference functions; network metrics behave as distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facefix._compat import import_basicsr
from facefix.quality.metrics import (METRICS, IdentityMetric, InceptionFeatures, LPIPSMetric, frechet_distance, niqe,
                                  psnr, ssim)


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    clean = (np.indices((96, 96)).sum(axis=0)[..., None] * np.array([1, 2, 3]) % 256).astype(np.uint8)
    noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    return noisy, clean


@pytest.mark.parametrize("y_channel", [False, True])
def test_psnr_ssim_agree_with_basicsr(pair, y_channel):
    metrics = import_basicsr("metrics")
    noisy, clean = pair
    assert abs(psnr(noisy, clean, y_channel=y_channel)
               - metrics.calculate_psnr(noisy, clean, 0, test_y_channel=y_channel)) < 1e-6
    assert abs(ssim(noisy, clean, y_channel=y_channel)
               - metrics.calculate_ssim(noisy, clean, 0, test_y_channel=y_channel)) < 1e-6
    assert psnr(clean, clean) == float("inf") or psnr(clean, clean) > 90


def test_niqe_agrees_with_basicsr():
    import cv2

    rng = np.random.default_rng(0)
    noisy = cv2.GaussianBlur(rng.integers(0, 255, (192, 192, 3), dtype=np.uint8), (7, 7), 2)
    reference = import_basicsr("metrics.niqe").calculate_niqe(noisy, 0, input_order="HWC", convert_to="y")
    assert abs(niqe(noisy) - float(reference)) < 1e-6


def test_every_metric_states_direction_and_convention():
    for info in METRICS.values():
        assert isinstance(info.lower_better, bool) and info.convention


def test_identity_of_identical_images_is_zero(pair):
    metric = IdentityMetric(pretrained=False)
    noisy, clean = pair
    assert metric(clean, clean) == 0.0
    assert metric(noisy, clean) > metric(clean, clean)


def test_lpips_is_zero_for_identical_images(pair):
    metric = LPIPSMetric(pretrained=False)
    noisy, clean = pair
    assert metric(clean, clean) < 1e-6 < metric(noisy, clean)


def test_fid_of_a_set_with_itself_is_about_zero_and_grows_with_a_shift():
    torch.manual_seed(0)
    features = InceptionFeatures(pretrained=False)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(8)]
    shifted = [np.clip(i.astype(int) + 60, 0, 255).astype(np.uint8) for i in images]
    # Random Inception weights give tiny activations: compare the two distances, not absolute values.
    own, other = features(images) * 1e6, features(shifted) * 1e6
    assert own.shape == (8, 2048)
    # whole photos differ in size: each size goes in its own batch, rows stay in input order
    mixed = features([images[0], np.zeros((48, 40, 3), np.uint8), images[1]]) * 1e6
    assert mixed.shape == (3, 2048) and np.allclose(mixed[[0, 2]], own[:2], rtol=1e-4, atol=1e-6 * np.abs(own).max())
    # The matrix square root of a 2048-d covariance takes a minute on a shared CPU; 64 of the features
    # exercise the same computation.
    own, other = own[:, :64], other[:, :64]
    shifted_distance = frechet_distance(other, own)
    assert shifted_distance > 0
    assert abs(frechet_distance(own, own)) < 1e-3 * shifted_distance
