"""Noise schedules and the reverse process for noise-level-conditioned (Palette-style) inpainting models.

The network is conditioned on ``gamma = alpha_bar`` rather than on a step index, so sampling may use any
schedule, and a *respaced* one with fewer steps: keeping ``N`` of the ``T`` noise levels and deriving
the betas between consecutive kept levels, ``beta_k = 1 - gamma_k / gamma_{k-1}``. Every step predicts
the noise, estimates the clean image (clamped to [-1, 1]), takes the posterior mean with the fixed
small posterior variance, and copies the known (unmasked) region back in, clean, as Palette does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LinearSchedule:
    """``steps`` betas spaced linearly from ``beta_start`` to ``beta_end``."""

    steps: int
    beta_start: float
    beta_end: float

    def betas(self) -> torch.Tensor:
        return torch.linspace(self.beta_start, self.beta_end, self.steps, dtype=torch.float64)

    def gammas(self) -> torch.Tensor:
        """``alpha_bar_t = prod_{s <= t} (1 - beta_s)``, float64."""
        return torch.cumprod(1 - self.betas(), dim=0)


#: the seed paper's (and Palette's) training schedule: 2000 steps, betas 1e-6 .. 1e-2
TRAIN_SCHEDULE = LinearSchedule(2000, 1e-6, 1e-2)
#: Palette's sampling schedule for CelebA-HQ: 1000 steps, betas 1e-4 .. 0.09
PALETTE_TEST_SCHEDULE = LinearSchedule(1000, 1e-4, 0.09)


@dataclass
class StepOutput:
    prev_sample: torch.Tensor
    pred_original: torch.Tensor
    mean: torch.Tensor
    log_variance: torch.Tensor


class PaletteSampler:
    """Ancestral sampling over ``num_steps`` noise levels of ``schedule`` (all of them by default).

    ``Denoiser`` is any callable ``(cat([condition, y_t]), gammas) -> predicted noise``.
    """

    def __init__(self, schedule: LinearSchedule = PALETTE_TEST_SCHEDULE, num_steps: int | None = None):
        full = schedule.gammas()
        num_steps = min(num_steps or schedule.steps, schedule.steps)
        if num_steps < 1:
            raise ValueError("num_steps must be at least 1")
        # always keep the noisiest level (a 1-step sampler starts there), spread the rest evenly
        keep = torch.linspace(schedule.steps - 1, 0, num_steps, dtype=torch.float64).round().long().unique()
        self.gammas = full[keep]
        previous = torch.cat([torch.ones(1, dtype=torch.float64), self.gammas[:-1]])
        self.gammas_prev = previous
        self.betas = 1 - self.gammas / previous
        variance = self.betas * (1 - previous) / (1 - self.gammas)
        self.log_variance = torch.log(variance.clamp(min=1e-20))
        self.coef_x0 = self.betas * previous.sqrt() / (1 - self.gammas)
        self.coef_xt = (1 - previous) * (1 - self.betas).sqrt() / (1 - self.gammas)

    @property
    def num_steps(self) -> int:
        return len(self.gammas)

    def step(self, noise_pred: torch.Tensor, index: int, sample: torch.Tensor,
             noise: torch.Tensor | None = None) -> StepOutput:
        """One reverse step from level ``index`` to ``index - 1`` (``noise`` None: draw none, i.e. the mean)."""
        g = float(self.gammas[index])
        pred_original = ((1 / g) ** 0.5 * sample - (1 / g - 1) ** 0.5 * noise_pred).clamp(-1, 1)
        mean = float(self.coef_x0[index]) * pred_original + float(self.coef_xt[index]) * sample
        log_variance = self.log_variance[index].to(sample.dtype)
        prev = mean if noise is None or index == 0 else mean + torch.exp(0.5 * log_variance) * noise
        return StepOutput(prev, pred_original, mean, log_variance)

    @torch.no_grad()
    def sample(self, denoiser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], known: torch.Tensor,
               mask: torch.Tensor, *, generator: torch.Generator | None = None,
               on_step: Callable[[], None] | None = None) -> torch.Tensor:
        """Fill ``mask == 1`` of ``known`` (RGB in [-1, 1]); the result equals ``known`` where ``mask == 0``.
        ``on_step()`` is called after each step."""

        def randn() -> torch.Tensor:
            return torch.randn(known.shape, generator=generator, dtype=torch.float32).to(known)

        condition = known * (1 - mask) + mask * randn()
        sample = condition
        for index in reversed(range(self.num_steps)):
            gammas = torch.full((known.shape[0], 1), float(self.gammas[index]), device=known.device)
            noise_pred = denoiser(torch.cat([condition, sample], dim=1), gammas.to(known.dtype))
            sample = self.step(noise_pred, index, sample, randn()).prev_sample
            sample = known * (1 - mask) + mask * sample
            if on_step is not None:
                on_step()
        return sample
