"""The LCM schedule with the low-quality latent as an intermediate state (the paper's core idea).

diffusers' ``LCMScheduler`` (with LCM Dreamshaper v7's scheduler config) gives the timesteps, the
cumulative alphas and the boundary-condition scalings. The sampling itself is ours, because InterLCM
changes its first step: no network runs at t = 999; the encoded LQ face *is* that step's prediction,
and it is re-noised to the next timestep. With ``N`` schedule steps there are ``N - 1`` network
evaluations: N = 4 -> [999, 759, 499, 259] for the 3-step model, N = 2 -> [999, 499] for the 1-step ones.

Noise is an input (``(N - 1, B, C, h, w)``: the draw after each step but the last), so a caller decides
how it is made: from a seed for repeatable output, or given tensors to match a reference run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

#: ``SimianLuo/LCM_Dreamshaper_v7`` scheduler/scheduler_config.json (steps_offset is unused by LCMScheduler)
LCM_SCHEDULER_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "original_inference_steps": 50,
    "prediction_type": "epsilon",
    "clip_sample": False,
    "set_alpha_to_one": True,
    "timestep_spacing": "leading",
    "steps_offset": 0,
}


@dataclass(frozen=True)
class LCMSchedule:
    """The timesteps of one InterLCM variant and the coefficients the sampler needs at them."""

    timesteps: tuple[int, ...]
    alphas_cumprod: torch.Tensor  # (num_train_timesteps,), float32, as the scheduler computes it
    c_skip: tuple[torch.Tensor, ...]  # at timesteps[1:]
    c_out: tuple[torch.Tensor, ...]

    @classmethod
    def for_evaluations(cls, evaluations: int, scheduler_config: Mapping | None = None) -> LCMSchedule:
        """The schedule with ``evaluations`` network calls (``evaluations + 1`` LCM steps)."""
        from diffusers import LCMScheduler

        known = {k: v for k, v in (scheduler_config or LCM_SCHEDULER_CONFIG).items() if not k.startswith("_")}
        scheduler = LCMScheduler(**known)
        scheduler.set_timesteps(evaluations + 1)
        steps = scheduler.timesteps
        scalings = [scheduler.get_scalings_for_boundary_condition_discrete(t) for t in steps[1:]]
        return cls(timesteps=tuple(int(t) for t in steps), alphas_cumprod=scheduler.alphas_cumprod.clone(),
                   c_skip=tuple(s[0] for s in scalings), c_out=tuple(s[1] for s in scalings))

    @property
    def evaluation_timesteps(self) -> tuple[int, ...]:
        return self.timesteps[1:]

    def noise_coefficients(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sqrt(abar_t), sqrt(1 - abar_t))``: how much signal and noise a latent at ``t`` holds."""
        abar = self.alphas_cumprod[t]
        return abar.sqrt(), (1 - abar).sqrt()


def guidance_embedding(guidance_scale: float, dim: int, batch: int) -> torch.Tensor:
    """LCM's w-embedding (sinusoidal features of ``1000 (guidance_scale - 1)``), float32, as diffusers
    computes it; float64 maths would move the output by ~1e-5."""
    w = torch.tensor(guidance_scale - 1.0).repeat(batch) * 1000.0
    half = dim // 2
    frequencies = torch.exp(torch.arange(half, dtype=torch.float32) * -(torch.log(torch.tensor(10000.0)) / (half - 1)))
    angles = w[:, None] * frequencies[None, :]
    embedding = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    return torch.nn.functional.pad(embedding, (0, dim % 2))


#: ``denoise(z_t, t) -> eps``: the conditioned UNet (plus spatial encoder) at one timestep
Denoiser = Callable[[torch.Tensor, int], torch.Tensor]


def sample(z_lq: torch.Tensor, schedule: LCMSchedule, denoise: Denoiser, noise: torch.Tensor, *,
           trace: dict | None = None, on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """Run the InterLCM schedule from the LQ latent; returns the final x0 prediction (float32).

    ``trace`` (optional) receives ``z_t``, ``eps`` and ``x0`` lists, for tests and debugging.
    """
    steps = schedule.timesteps
    if noise.shape[0] != len(steps) - 1:
        raise ValueError(f"need {len(steps) - 1} noise draws for {len(steps)} LCM steps, got {noise.shape[0]}")
    x0 = z_lq.float()
    if trace is not None:
        trace.update(z_t=[], eps=[], x0=[x0])
    for i, t in enumerate(steps[1:]):
        # re-noise the previous step's prediction to this timestep
        signal, sigma = schedule.noise_coefficients(t)
        z = signal * x0 + sigma * noise[i].to(x0)
        eps = denoise(z, t).float()
        x0 = (z - sigma * eps) / signal
        # the consistency boundary condition (c_skip ~ 1e-8 here: effectively x0 itself)
        x0 = schedule.c_out[i] * x0 + schedule.c_skip[i] * z
        if trace is not None:
            trace["z_t"].append(z)
            trace["eps"].append(eps)
            trace["x0"].append(x0)
        if on_step is not None:
            on_step()
    return x0


def face_seeds(faces: torch.Tensor, seed: int) -> list[int]:
    """One seed per face from ``seed`` and the face's pixels, so a face's noise does not depend on the
    batch it came in or on what was restored before it (a resumed run gives identical files)."""
    seeds = []
    for face in faces.detach().float().cpu():
        digest = hashlib.blake2b(face.contiguous().numpy().tobytes(), digest_size=8, key=str(seed).encode())
        seeds.append(int.from_bytes(digest.digest(), "little") & (2**63 - 1))
    return seeds


def seeded_noise(seeds: list[int], draws: int, shape: tuple[int, ...]) -> torch.Tensor:
    """``(draws, len(seeds), *shape)`` standard normals, drawn on the CPU (same numbers on any device)."""
    per_face = [torch.randn((draws, *shape), generator=torch.Generator().manual_seed(s)) for s in seeds]
    return torch.stack(per_face, dim=1)


__all__ = ["LCM_SCHEDULER_CONFIG", "LCMSchedule", "face_seeds", "guidance_embedding", "sample", "seeded_noise"]
