"""The classical blind-face degradation model: blur -> down-sample -> noise -> JPEG (-> back to size).

Every random choice is drawn from a ``numpy.random.Generator`` passed in, so a sample is a pure function
of its seed: the same seed always gives the same low-quality face, in any worker process. Kernel
shapes come from basicsr's (deterministic) kernel functions; the random draws are ours, because basicsr's
``random_*`` helpers use numpy's global state and its JPEG helper breaks on OpenCV >= 4.11.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facefix._compat import import_basicsr


@dataclass(frozen=True)
class DegradationConfig:
    """Ranges of the degradation model (each ``(low, high)`` is sampled uniformly).

    ``motion_prob`` is the chance of a motion blur instead of a Gaussian one; ``anisotropic_prob`` the
    chance that a Gaussian blur is anisotropic; noise sigma is on the 0-255 scale.
    """

    kernel_size: int = 41
    blur_sigma: tuple[float, float] = (0.1, 10.0)
    anisotropic_prob: float = 0.5
    motion_prob: float = 0.0
    motion_length: tuple[int, int] = (5, 25)
    downsample: tuple[float, float] = (0.8, 8.0)
    noise: tuple[float, float] = (0.0, 20.0)
    poisson_prob: float = 0.0
    poisson_scale: tuple[float, float] = (0.05, 3.0)
    jpeg_quality: tuple[int, int] = (60, 100)
    gray_prob: float = 0.01
    color_jitter_prob: float = 0.0
    color_jitter_shift: float = 20.0


#: GFPGAN's training ranges (train_gfpgan_v1.yml), used by the fusion recipe
GFPGAN_DEGRADATION = DegradationConfig()
#: the mmrb paper's Eq. 17: Gaussian and motion blur, down-sampling 0.4-8, noise 0-25, JPEG 5-50
MMRB_DEGRADATION = DegradationConfig(motion_prob=0.5, downsample=(0.4, 8.0), noise=(0.0, 25.0), jpeg_quality=(5, 50),
                                     gray_prob=0.0)
#: CodeFormer's ranges, used by the interlcm recipe
CODEFORMER_DEGRADATION = DegradationConfig(downsample=(1.0, 12.0), noise=(0.0, 15.0), jpeg_quality=(30, 90),
                                           gray_prob=0.0)
#: CelebA-Test-style evaluation pairs (VQFR/GFPGAN convention)
CELEBA_TEST_DEGRADATION = DegradationConfig(blur_sigma=(0.2, 10.0), downsample=(1.0, 8.0), noise=(0.0, 15.0),
                                            jpeg_quality=(60, 100), gray_prob=0.0)


def gaussian_kernel(rng: np.random.Generator, config: DegradationConfig) -> np.ndarray:
    degradations = import_basicsr("data.degradations")
    sigma_x = rng.uniform(*config.blur_sigma)
    if rng.random() < config.anisotropic_prob:
        sigma_y, theta = rng.uniform(*config.blur_sigma), rng.uniform(-np.pi, np.pi)
        return degradations.bivariate_Gaussian(config.kernel_size, sigma_x, sigma_y, theta, isotropic=False)
    return degradations.bivariate_Gaussian(config.kernel_size, sigma_x, sigma_x, 0, isotropic=True)


def motion_kernel(rng: np.random.Generator, config: DegradationConfig) -> np.ndarray:
    """A straight camera-shake streak of random length and angle."""
    size = config.kernel_size
    length = int(rng.integers(config.motion_length[0], config.motion_length[1] + 1))
    kernel = np.zeros((size, size), np.float32)
    centre = size // 2
    kernel[centre, max(0, centre - length // 2): centre + (length + 1) // 2] = 1.0
    rotation = cv2.getRotationMatrix2D((centre, centre), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (size, size), flags=cv2.INTER_LINEAR)
    return kernel / max(kernel.sum(), 1e-8)


def degrade(face: np.ndarray, rng: np.random.Generator, config: DegradationConfig) -> np.ndarray:
    """A low-quality version of ``face`` (float32 BGR in [0, 1], H x W x 3), same size and range."""
    height, width = face.shape[:2]
    # 1. Blur.
    kernel = motion_kernel(rng, config) if rng.random() < config.motion_prob else gaussian_kernel(rng, config)
    out = cv2.filter2D(face, -1, kernel.astype(np.float32))
    # 2. Down-sample by a random factor.
    scale = rng.uniform(*config.downsample)
    size = (max(1, int(width / scale)), max(1, int(height / scale)))
    out = cv2.resize(out, size, interpolation=cv2.INTER_LINEAR)
    # 3. Noise.
    if rng.random() < config.poisson_prob:
        level = rng.uniform(*config.poisson_scale)
        out = out + (rng.poisson(np.clip(out, 0, 1) * 255 * 10) / (255 * 10) - out) * level
    else:
        out = out + rng.normal(0, rng.uniform(*config.noise) / 255.0, out.shape)
    out = np.clip(out, 0, 1).astype(np.float32)
    # 4. JPEG (the quality must be an int for OpenCV).
    quality = int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1))
    _, encoded = cv2.imencode(".jpg", (out * 255).round().astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    out = cv2.imdecode(encoded, cv2.IMREAD_COLOR).astype(np.float32) / 255.0
    # 5. Back to the input size, then colour jitter or grayscale.
    out = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.random() < config.color_jitter_prob:
        out = out + rng.uniform(-config.color_jitter_shift, config.color_jitter_shift, 3).astype(np.float32) / 255
    if rng.random() < config.gray_prob:
        out = np.repeat(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[..., None], 3, axis=2)
    return np.clip(out, 0, 1).astype(np.float32)
