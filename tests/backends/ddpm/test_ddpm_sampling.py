"""Schedules, the respaced Palette sampler, RePaint with the unconditional model, and masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import shared_path

from facefix.backends.base import RestoreOptions
from facefix.backends.ddpm import DDPMInpainter, DiffusionUNet, UNetConfig
from facefix.backends.ddpm.checkpoint import load_unet
from facefix.backends.ddpm.schedule import PALETTE_TEST_SCHEDULE, TRAIN_SCHEDULE, PaletteSampler
from facefix.face.masks import center_mask, random_mask, white_mask


def test_training_schedule_is_the_papers():
    assert (TRAIN_SCHEDULE.steps, TRAIN_SCHEDULE.beta_start, TRAIN_SCHEDULE.beta_end) == (2000, 1e-6, 1e-2)
    betas, gammas = TRAIN_SCHEDULE.betas(), TRAIN_SCHEDULE.gammas()
    assert betas[0] == pytest.approx(1e-6) and betas[-1] == pytest.approx(1e-2)
    for index, value in {99: 0.97544, 499: 0.53525, 999: 0.08178, 1999: 4.386e-5}.items():
        assert gammas[index].item() == pytest.approx(value, rel=1e-3)


def test_schedules_match_palettes_tables():
    golden = torch.load(shared_path("reference", "palette_unet_small.golden.pt"), weights_only=True)
    tables = golden["intermediates"]["schedules"]
    assert torch.allclose(TRAIN_SCHEDULE.gammas(), tables["train"]["gammas"].double(), atol=1e-12)
    assert torch.allclose(PALETTE_TEST_SCHEDULE.gammas(), tables["test"]["gammas"].double(), atol=1e-12)


def test_reverse_step_matches_palette():
    golden = torch.load(shared_path("reference", "palette_unet_small.golden.pt"), weights_only=True)
    reference = golden["intermediates"]["palette_reverse_step_test_schedule"]
    network = load_unet(golden["state_dict"], num_head_channels=golden["config"]["num_head_channels"])
    sampler = PaletteSampler(PALETTE_TEST_SCHEDULE)
    inputs = golden["inputs"]
    for b, t in enumerate(reference["t"]):
        y_t = reference["y_t"][b: b + 1]
        with torch.no_grad():
            noise = network(torch.cat([inputs["y_cond"][b: b + 1], y_t], 1), reference["noise_level"][b: b + 1])
        out = sampler.step(noise, t, y_t)
        assert (out.pred_original - reference["y0_hat_clamped"][b: b + 1]).abs().max() < 1e-4
        assert (out.mean - reference["posterior_mean"][b: b + 1]).abs().max() < 1e-4
        assert abs(out.log_variance - reference["posterior_log_variance_clipped"][b]) < 1e-4
        mask = inputs["mask"][b: b + 1]
        following = inputs["y_0"][b: b + 1] * (1 - mask) + mask * out.prev_sample
        assert (following - reference["y_t_next_if_zero_noise_then_reimposed"][b: b + 1]).abs().max() < 1e-4


class CountingDenoiser(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x, gammas):
        self.calls += 1
        return torch.zeros_like(x[:, 3:])


@pytest.mark.parametrize("steps", [1, 7, 50])
def test_respaced_sampler_calls_the_network_once_per_step_and_keeps_the_known_region(steps):
    sampler = PaletteSampler(PALETTE_TEST_SCHEDULE, steps)
    denoiser = CountingDenoiser()
    known = torch.rand(2, 3, 16, 16) * 2 - 1
    mask = torch.zeros(2, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    out = sampler.sample(denoiser, known, mask, generator=torch.Generator().manual_seed(0))
    assert denoiser.calls == steps == sampler.num_steps
    assert torch.equal(out * (1 - mask), known * (1 - mask))
    assert steps == 1 or sampler.gammas[0] == PALETTE_TEST_SCHEDULE.gammas()[0]
    assert sampler.gammas[-1] == PALETTE_TEST_SCHEDULE.gammas()[-1]


def _tiny_conditional(seed: int = 0) -> DDPMInpainter:
    torch.manual_seed(seed)
    network = DiffusionUNet(UNetConfig(inner_channel=32, channel_mults=(1, 2), res_blocks=1, num_head_channels=16,
                                       attn_res=(), ffc=True))
    for parameter in network.parameters():
        torch.nn.init.normal_(parameter, std=0.02)
    return DDPMInpainter.from_state_dict(network.state_dict(), config={"num_head_channels": 16, "size": 32},
                                         device=torch.device("cpu"), dtype=torch.float32,
                                         options=RestoreOptions(seed=3, steps=5))


def test_conditional_inpainter_is_seeded_and_exact_outside_the_mask():
    faces = torch.rand(2, 3, 32, 32)
    masks = torch.zeros(2, 1, 32, 32)
    masks[..., 8:24, 8:24] = 1
    inpainter = _tiny_conditional()
    first = inpainter.inpaint(faces, masks)
    assert inpainter.evaluations == 5
    assert torch.equal(first * (1 - masks), faces * (1 - masks))
    assert not torch.equal(first, faces)
    assert torch.equal(first, _tiny_conditional().inpaint(faces, masks))


def test_repaint_with_an_unconditional_diffusers_unet():
    from diffusers import UNet2DModel

    config = {"sample_size": 32, "block_out_channels": [32, 32], "layers_per_block": 1,
              "down_block_types": ["DownBlock2D", "AttnDownBlock2D"], "up_block_types": ["AttnUpBlock2D", "UpBlock2D"],
              "norm_num_groups": 8}
    torch.manual_seed(0)
    network = UNet2DModel(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    inpainter = DDPMInpainter.from_state_dict(network.state_dict(), config=config, device=torch.device("cpu"),
                                              dtype=torch.float32, options=RestoreOptions(seed=1, steps=20))
    faces = torch.rand(1, 3, 32, 32)
    masks = torch.zeros(1, 1, 32, 32)
    masks[..., 8:24, 8:24] = 1
    out = inpainter.inpaint(faces, masks)
    assert inpainter.evaluations == 110  # 20 steps with jumps of 10 resampled 10 times
    assert torch.equal(out * (1 - masks), faces * (1 - masks))
    assert inpainter.face_size == 32


def test_masks_cover_the_papers_areas_and_are_seeded():
    assert center_mask(256, 256).mean() == 0.25
    for seed in range(10):
        mask = random_mask(np.random.default_rng(seed), 256, 256)
        assert 0.2 <= mask.mean() <= 0.3
    assert np.array_equal(random_mask(np.random.default_rng(4), 64, 64), random_mask(np.random.default_rng(4), 64, 64))
    image = np.zeros((4, 4, 3), np.uint8)
    image[1, 2] = 255
    image[2, 2] = (255, 255, 254)
    assert white_mask(image).sum() == 1 and white_mask(image)[1, 2] == 1
