"""The tiny golden: every intermediate and both outputs of the official code, within 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from interlcm_parts import golden, golden_bundle, golden_weights, one_thread  # noqa: F401 - fixtures

from facefix.backends.interlcm import InterLCMModels, InterLCMPipeline, InterLCMSettings
from facefix.backends.interlcm.clip import openai_to_hf

ATOL = 1e-4
RUNS = {"3step": ("output", 3), "1step": ("output_1step", 1)}


def _close(ours: torch.Tensor, theirs: torch.Tensor, name: str) -> None:
    assert ours.shape == theirs.shape, name
    error = (ours.float() - theirs.float()).abs().max().item()
    assert error <= ATOL, f"{name}: max abs error {error:.3g}"


@pytest.fixture(scope="module")
def models(golden):  # noqa: F811
    return InterLCMModels.from_state_dicts(*golden_weights(golden))


@pytest.fixture(scope="module", params=list(RUNS))
def run(request, golden, models):  # noqa: F811
    name = request.param
    pipeline = InterLCMPipeline(models, InterLCMSettings(evaluations=RUNS[name][1]), device=torch.device("cpu"))
    trace: dict = {}
    with torch.inference_mode():
        output = pipeline.run(golden["lq"], golden["noise"][name], trace=trace)
    return name, pipeline, trace, output


def test_lq_tensor_is_the_official_conversion_of_the_uint8_faces(golden):  # noqa: F811
    faces01 = torch.from_numpy(golden["lq_uint8_bgr"].numpy()[..., ::-1].astype(np.float32) / 255).permute(0, 3, 1, 2)
    assert torch.equal(faces01 * 2 - 1, golden["lq"])


def test_schedule_and_coefficients_match_the_official_scheduler(golden, run):  # noqa: F811
    name, pipeline, _, _ = run
    expected = golden["intermediates"][name]
    schedule = pipeline.schedule
    assert list(schedule.timesteps) == expected["timesteps"]
    assert list(schedule.evaluation_timesteps) == expected["eval_timesteps"]
    assert [schedule.alphas_cumprod[t].item() for t in schedule.timesteps] == expected["alphas_cumprod"]
    assert [c.item() for c in schedule.c_skip] == pytest.approx(expected["c_skip"], rel=1e-6)
    assert [c.item() for c in schedule.c_out] == expected["c_out"]


def test_every_intermediate_matches(golden, run):  # noqa: F811
    name, _, trace, _ = run
    shared, own = golden["intermediates"], golden["intermediates"][name]
    for key in ("clip_input", "clip_tokens", "visual_embedding", "z_lq", "w_embedding"):
        _close(trace[key], shared[key], key)
    for key in ("z_t", "eps", "x0", "controlnet_mid"):
        _close(torch.stack(trace[key]), own[key], key)
    assert len(trace["controlnet_down"]) == len(own["controlnet_down"])
    for step, (ours, theirs) in enumerate(zip(trace["controlnet_down"], own["controlnet_down"], strict=True)):
        assert len(ours) == len(theirs)
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _close(a, b, f"controlnet_down[{step}][{i}]")
    _close(trace["decoded"], own["decoded"], "decoded")
    _close(trace["colorfixed"], own["colorfixed"], "colorfixed")


def test_outputs_match_and_uint8_faces_within_one_level(golden, run):  # noqa: F811
    name, _, _, output = run
    _close(output, golden[RUNS[name][0]], name)
    # the official tensor2img: clamp, to [0, 1], RGB -> BGR, round half to even, uint8
    ours = ((output.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()[..., ::-1]
    ours = np.round(ours * 255).astype(np.int16)
    theirs = golden["intermediates"][name]["restored_uint8_bgr"].numpy().astype(np.int16)
    differ = np.abs(ours - theirs)
    assert differ.max() <= 1 and (differ > 0).mean() <= 1e-3


def test_openai_clip_tower_maps_exactly_onto_the_hf_model(golden):  # noqa: F811
    openai = golden["state_dicts"].get("clip_visual_openai")
    if openai is None:
        pytest.skip("this golden has no OpenAI-layout CLIP")
    converted = openai_to_hf(openai)
    expected = golden["state_dicts"]["clip_vision"]
    assert set(converted) == set(expected)
    for key, value in expected.items():
        assert torch.equal(converted[key], value), key


def test_restorer_loaded_from_a_bundle_reproduces_the_3step_output(golden):  # noqa: F811
    from facefix.backends.base import RestoreOptions
    from facefix.backends.interlcm import InterLCMRestorer

    _, configs = golden_weights(golden)
    settings = {"configs": configs, "face_size": golden["lq"].shape[-1]}
    restorer = InterLCMRestorer.from_state_dict(golden_bundle(golden), config=settings,
                                                device=torch.device("cpu"), dtype=torch.float32,
                                                options=RestoreOptions())
    assert restorer.face_size == golden["lq"].shape[-1] and restorer.variant.name == "3step"
    with torch.inference_mode():
        output = restorer.pipeline.run(golden["lq"], golden["noise"]["3step"])
    _close(output, golden["output"], "output")
