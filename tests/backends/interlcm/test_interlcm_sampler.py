"""The sampler's schedule and coefficients, and whole restorations on the tiny config (random weights)."""

from __future__ import annotations

import pytest
import torch
from interlcm_parts import one_thread  # noqa: F401 - autouse fixture

from facefix.backends.base import RestoreOptions
from facefix.backends.interlcm import InterLCMRestorer
from facefix.backends.interlcm.colorfix import wavelet_color_fix, wavelet_decomposition
from facefix.backends.interlcm.components import TINY_CONFIGS
from facefix.backends.interlcm.sampler import LCMSchedule, face_seeds, guidance_embedding, sample, seeded_noise


@pytest.mark.parametrize(("evaluations", "timesteps", "signal", "sigma"), [
    (3, (999, 759, 499, 259), 0.22850, 0.97354),
    (1, (999, 499), 0.52694, 0.84990),
])
def test_timesteps_and_noise_coefficients_are_the_notes_numbers(evaluations, timesteps, signal, sigma):
    schedule = LCMSchedule.for_evaluations(evaluations)
    assert schedule.timesteps == timesteps
    first = schedule.noise_coefficients(schedule.evaluation_timesteps[0])
    assert first[0].item() == pytest.approx(signal, abs=1e-5)
    assert first[1].item() == pytest.approx(sigma, abs=1e-5)
    # the boundary condition is effectively x0 itself at these timesteps
    assert all(c.item() < 1e-7 for c in schedule.c_skip) and all(c.item() == 1.0 for c in schedule.c_out)


def test_lq_latent_is_the_first_prediction_and_each_step_renoises_it():
    schedule = LCMSchedule.for_evaluations(3)
    z_lq = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(3, 2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    seen = []

    def denoise(z, t):
        seen.append((z.clone(), t))
        return torch.zeros_like(z)  # eps = 0: x0 = z / sqrt(abar_t)

    sample(z_lq, schedule, denoise, noise)
    assert [t for _, t in seen] == [759, 499, 259]
    signal, sigma = schedule.noise_coefficients(759)
    assert torch.allclose(seen[0][0], signal * z_lq + sigma * noise[0])
    previous_x0 = seen[0][0] / signal
    signal, sigma = schedule.noise_coefficients(499)
    assert torch.allclose(seen[1][0], signal * previous_x0 + sigma * noise[1], atol=1e-5)
    with pytest.raises(ValueError, match="need 3 noise draws"):
        sample(z_lq, schedule, denoise, noise[:2])


def test_guidance_embedding_equals_diffusers():
    from diffusers import LatentConsistencyModelPipeline

    w = torch.tensor(7.0).repeat(2)
    theirs = LatentConsistencyModelPipeline.get_guidance_scale_embedding(None, w, embedding_dim=256)
    assert torch.equal(guidance_embedding(8.0, 256, 2), theirs)


def test_wavelet_split_is_exact_and_the_fix_keeps_detail_over_the_reference_colours():
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    high, low = wavelet_decomposition(image)
    assert torch.allclose(high + low, image, atol=1e-6)
    assert torch.allclose(wavelet_color_fix(image, image), image, atol=1e-6)
    tinted = image + torch.tensor([0.3, -0.2, 0.1]).view(1, 3, 1, 1)
    fixed = wavelet_color_fix(image, tinted)  # a constant shift lives only in the low band
    assert torch.allclose(fixed, tinted, atol=1e-5)


def test_face_noise_depends_on_seed_and_pixels_not_on_the_batch():
    faces = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    together = seeded_noise(face_seeds(faces, 5), 2, (4, 2, 2))
    alone = seeded_noise(face_seeds(faces[1:2], 5), 2, (4, 2, 2))
    assert together.shape == (2, 3, 4, 2, 2)
    assert torch.equal(together[:, 1:2], alone)
    assert not torch.equal(seeded_noise(face_seeds(faces, 6), 2, (4, 2, 2)), together)


@pytest.fixture(scope="module")
def tiny_restorer():
    torch.manual_seed(0)
    return InterLCMRestorer.from_config(TINY_CONFIGS, options=RestoreOptions(seed=3))


def test_a_64px_restore_runs_end_to_end_and_is_repeatable(tiny_restorer):
    faces = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    out = tiny_restorer.restore(faces)
    assert out.shape == faces.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert torch.equal(tiny_restorer.restore(faces), out)
    # the same face alone gives the same result as in a batch (numerics of batch size only)
    assert torch.allclose(tiny_restorer.restore(faces[1:]), out[1:], atol=1e-4)
    other_seed = InterLCMRestorer(tiny_restorer.pipeline.models, face_size=64, device=torch.device("cpu"),
                                  dtype=torch.float32, options=RestoreOptions(seed=4))
    assert not torch.allclose(other_seed.restore(faces), out, atol=1e-4)


def test_variants_set_the_number_of_network_evaluations(tiny_restorer):
    models = tiny_restorer.pipeline.models
    for variant, evaluations, colorfix in (("1step", 1, True), ("inpainting", 1, False), ("3step", 3, True)):
        restorer = InterLCMRestorer(models, variant=variant, face_size=64, device=torch.device("cpu"),
                                    dtype=torch.float32, options=RestoreOptions())
        calls = []
        hook = models.unet.register_forward_hook(lambda module, args, output, seen=calls: seen.append(args[1]))
        try:
            restorer.restore(torch.rand(1, 3, 64, 64))
        finally:
            hook.remove()
        assert len(calls) == evaluations, variant
        assert restorer.pipeline.settings.colorfix is colorfix


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_stays_close_and_keeps_the_vae_out_of_fp16(tiny_restorer, dtype):
    faces = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)  # the same random weights as tiny_restorer's
    reduced = InterLCMRestorer.from_config(TINY_CONFIGS, dtype=dtype, options=RestoreOptions(seed=3))
    out = reduced.restore(faces)
    models = reduced.pipeline.models
    assert models.unet.dtype == dtype and models.spatial_encoder.dtype == dtype
    assert models.vae.dtype == (torch.float32 if dtype == torch.float16 else dtype)
    assert out.dtype == torch.float32 and (out - tiny_restorer.restore(faces)).abs().max() < 0.05
