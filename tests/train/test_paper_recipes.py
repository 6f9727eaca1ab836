"""The training recipes hold the papers' stated values, and run with the real loss-network architectures.

Each fact pinned here is one a reader checks against the seed paper: VGG taps, loss weights, frequency
loss levels, schedules, crop sources, frozen layers, and which parameters train.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import shared_path
from helpers.training import tiny_trainer, write_tiny_faces

from facefix.quality.losses import VGG19_LAYERS, VGGPerceptualLoss, mrfr_loss, spectrum_l1
from facefix.backends import recipe_class


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return write_tiny_faces(tmp_path_factory.mktemp("faces"), count=4, size=64)


def paper_config(method: str, **overrides):
    cls = recipe_class(method)
    return dataclasses.replace(cls.config_class(), **overrides).resolved()


# -- fusion (seed 000) -----------------------------------------------------------------------------------
def test_fusion_paper_taps_weights_and_frequency_loss():
    config = paper_config("fusion")
    assert config.perceptual_layers == ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
    assert (config.perceptual_weight, config.identity_weight, config.fft_weight) == (1.0, 10.0, 1.0)
    assert config.frequency_loss == "features"
    assert (config.batch_size, config.lr, config.max_steps) == (8, 2e-3, 500_000)


def test_vgg19_layer_indices_name_the_convolutions():
    from torchvision.models import vgg19

    features = vgg19().features
    names = [name for name, _ in sorted(VGG19_LAYERS.items(), key=lambda item: item[1])]
    convs = [i for i, layer in enumerate(features) if isinstance(layer, torch.nn.Conv2d)]
    assert [VGG19_LAYERS[n] for n in names] == convs
    assert names[:4] == ["conv1_1", "conv1_2", "conv2_1", "conv2_2"] and names[5] == "conv3_2"


def test_perceptual_taps_are_before_activation():
    # torchvision's in-place ReLUs would turn the tapped maps non-negative after the tap
    torch.manual_seed(0)
    loss = VGGPerceptualLoss(dict.fromkeys(("conv1_2", "conv3_2", "conv5_2"), 1.0), pretrained=False)
    x = torch.rand(1, 3, 32, 32)
    maps = loss.feature_maps(x)
    assert set(maps) == {"conv1_2", "conv3_2", "conv5_2"}
    expected = (x - loss.mean) / loss.std
    for index, layer in enumerate(loss.features):
        expected = layer(expected)
        if index == VGG19_LAYERS["conv3_2"]:
            break
    assert torch.equal(maps["conv3_2"], expected)
    assert all((m < 0).any() for m in maps.values())
    assert not any(getattr(layer, "inplace", False) for layer in loss.features)


def test_mrfr_sums_each_levels_mean_spectral_difference():
    torch.manual_seed(0)
    outputs = [torch.rand(2, 4, 16, 16), torch.rand(2, 8, 8, 8)]
    targets = [torch.rand(2, 4, 16, 16), torch.rand(2, 8, 8, 8)]
    per_level = []
    for a, b in zip(outputs, targets):
        diff = torch.view_as_real(torch.fft.rfft2(a, norm="ortho") - torch.fft.rfft2(b, norm="ortho"))
        per_level.append(diff.abs().sum() / diff.numel())  # (1 / t_j) * L1, t_j = the level's element count
    assert mrfr_loss(outputs, targets) == pytest.approx(float(sum(per_level)), rel=1e-5)
    assert spectrum_l1(outputs[0], targets[0]) == pytest.approx(float(per_level[0]), rel=1e-5)


def test_fusion_from_scratch_trains_every_parameter_and_init_trains_the_fusion_blocks():
    scratch = paper_config("fusion")
    assert scratch.train_backbone is True
    assert paper_config("fusion", init="fusion.gfpgan-v1.4").train_backbone is False
    assert paper_config("fusion", init="fusion.gfpgan-v1.4", train_backbone=True).train_backbone is True


@pytest.mark.slow  # the real ArcFace IR-SE50 on a CPU
def test_fusion_tiny_run_from_scratch_changes_every_generator_tensor(faces, tmp_path):
    # the real VGG-19 and ArcFace IR-SE50 architectures (random weights): no stand-ins
    trainer = tiny_trainer(recipe_class("fusion"), faces, tmp_path, size=32, batch_size=1, max_steps=1,
                           checkpoint_every=0, lr=1e-3)
    assert type(trainer.recipe.identity.network).__name__ == "Backbone"
    assert len(trainer.recipe.perceptual.features) == VGG19_LAYERS["conv5_2"] + 1
    generator = trainer.recipe.generator
    optimised = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert all(p.requires_grad and id(p) in optimised for p in generator.parameters())
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    logs = trainer.train()
    assert set(logs[0]) >= {"perceptual", "identity", "fft"} and all(v == v for v in logs[0].values())
    changed = {k.split(".")[0] for k, v in generator.state_dict().items() if not torch.equal(v, before[k])}
    # the backbone learns too (GFPGAN's intermediate toRGB heads feed no loss of the paper: no gradient)
    assert {"conv_body_first", "stylegan_decoder", "fusion_blocks"} <= changed


# -- mmrb (seeds 002/003) --------------------------------------------------------------------------------
def test_mmrb_paper_schedule_crops_and_freeze_d():
    config = paper_config("mmrb")
    assert (config.max_steps, config.batch_size) == (700_000, 4)  # Sec. 4.2
    assert config.lr_schedule == "piecewise" and config.lr_milestones == (400_000, 600_000)
    assert config.lr_factor == 0.5
    assert (config.lr, config.prior_lr, config.noise_lr, config.local_d_lr, config.global_d_lr) == (
        2e-3, 2e-4, 2e-3, 2e-3, 2e-5)
    assert (config.adv_global_weight, config.adv_local_weight, config.l1_weight, config.feature_matching_weight,
            config.identity_weight) == (0.5, 3.0, 8.0, 0.02, 10.0)
    assert config.local_d_crops == "landmarks" and config.needs_landmarks()
    assert not paper_config("mmrb", local_d_crops="template").needs_landmarks()
    assert config.freeze_d_convs == 5


def test_mmrb_freeze_d_leaves_the_stem_and_two_blocks_untrained():
    from facefix.backends.mmrb.discriminator import GPENDiscriminator, freeze_convs

    network = GPENDiscriminator(64, channel_multiplier=1, narrow=0.0625)
    frozen = freeze_convs(network, paper_config("mmrb").freeze_d_convs)
    assert {name.split(".")[1] for name in frozen} == {"0", "1", "2"}
    assert sum(name.endswith(".weight") and ".skip." not in name for name in frozen) == 5  # five convolutions
    assert all(p.requires_grad for n, p in network.named_parameters() if not n.startswith(("convs.0.", "convs.1.",
                                                                                            "convs.2.")))


def test_piecewise_schedule_multiplies_every_group_at_each_milestone():
    from types import SimpleNamespace

    from facefix.train.loop import Trainer

    parameter = torch.nn.Parameter(torch.zeros(1))
    g = torch.optim.Adam([{"params": [parameter], "lr": 2e-3, "initial_lr": 2e-3}])
    d = torch.optim.Adam([{"params": [parameter], "lr": 2e-5, "initial_lr": 2e-5}])
    config = paper_config("mmrb")
    seen = {}
    for step in (0, 399_999, 400_000, 599_999, 600_000, 699_999):
        trainer = SimpleNamespace(config=config, step=step, optimizer=g, d_optimizer=d)
        Trainer._set_learning_rates(trainer)
        seen[step] = (g.param_groups[0]["lr"], d.param_groups[0]["lr"])
    assert seen[0] == seen[399_999] == (2e-3, 2e-5)
    assert seen[400_000] == seen[599_999] == pytest.approx((1e-3, 1e-5))
    assert seen[600_000] == seen[699_999] == pytest.approx((5e-4, 5e-6))


def test_mmrb_crops_follow_a_real_lfw_faces_landmarks_off_the_template():
    from facefix.face.align import ffhq_template
    from facefix.face.components import component_boxes, crop_components
    from facefix.train.data import DegradedFaces, face_landmarks

    face = shared_path("data", "faces", "lfw", "Aaron_Peirsol", "Aaron_Peirsol_0001.jpg")
    size, template = 256, ffhq_template(256)
    points, fallbacks = face_landmarks([face], size=size, template=template)
    assert fallbacks == 0
    eyes = points[0, :2]
    assert np.abs(eyes - template[:2]).max() > 8  # this face's eyes are not where the template puts them
    assert 95 < eyes[0, 0] < 115 and 135 < eyes[1, 0] < 160 and abs(eyes[0, 1] - eyes[1, 1]) < 5
    again, _ = face_landmarks([face], size=size, template=template)  # from the cache: the same points
    assert np.array_equal(again, points)

    dataset = DegradedFaces([face] * 4, size=size, degradation=None, landmarks=np.repeat(points, 4, axis=0))
    samples = [dataset[i] for i in range(4)]
    upright = DegradedFaces([face], size=size, degradation=None, flip=False)[0]["gt"]
    flips = [not torch.equal(sample["gt"], upright) for sample in samples]
    assert any(flips)  # the seeded flips of these four samples mirror at least one
    for sample, mirrored in zip(samples, flips):
        expected = torch.from_numpy(points[0].copy())
        if mirrored:  # mirrored with the face: x -> size - 1 - x, and the eyes and mouth corners swap
            assert torch.equal(sample["gt"], upright.flip(-1))
            expected[:, 0] = size - 1 - expected[:, 0]
            expected = expected[[1, 0, 2, 4, 3]]
        assert torch.allclose(sample["landmarks"], expected)
    samples = [samples[flips.index(False)]] if False in flips else samples
    # the eye boxes sit on the detected eyes, not on the template's
    boxes = component_boxes(samples[0]["landmarks"][None])
    centre = (boxes["left_eye"][0, :2] + boxes["left_eye"][0, 2:]) / 2
    assert torch.allclose(centre, samples[0]["landmarks"][0], atol=1e-4)
    gt = samples[0]["gt"][None]
    by_face = crop_components(gt, samples[0]["landmarks"][None], 32)["left_eye"]
    by_template = crop_components(gt, torch.from_numpy(template)[None], 32)["left_eye"]
    assert (by_face - by_template).abs().mean() > 0.02


def test_landmark_fallback_to_the_template_is_counted(tmp_path):
    from facefix.face.align import ffhq_template
    from facefix.train.data import face_landmarks

    faces = write_tiny_faces(tmp_path, count=2, size=64)  # blurred noise: no face
    files = sorted(faces.glob("*.png"))
    points, fallbacks = face_landmarks(files, size=64, template=ffhq_template(64))
    assert fallbacks == 2 and np.allclose(points, ffhq_template(64))


# -- ddpm (seed 001) and interlcm (seed 004) -------------------------------------------------------------
def test_ddpm_and_interlcm_keep_their_stated_recipes():
    ddpm = paper_config("ddpm")
    assert (ddpm.size, ddpm.ffc, ddpm.random_mask_area) == (256, True, (0.2, 0.3))
    interlcm = paper_config("interlcm")
    # the official code's losses (the paper's text: L1 + VGG-19 L2 + 0.1 log GAN): L1 + LPIPS + 0.1 hinge
    assert (interlcm.l1_weight, interlcm.lpips_weight, interlcm.gan_weight) == (1.0, 1.0, 0.1)
    assert interlcm.grad_accumulation == 8 and paper_config("interlcm", preset="tiny").grad_accumulation == 1


# -- facefix train --show-config and the generated table ------------------------------------------------
def _show_config(*args: str) -> dict:
    import json

    from typer.testing import CliRunner

    from facefix.cli import app

    result = CliRunner().invoke(app, ["train", *args, "--show-config"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_show_config_builds_nothing_and_applies_preset_and_set(monkeypatch):
    from facefix import hub
    from facefix.backends.mmrb.training import MMRBRecipe

    def refuse(*args, **kwargs):
        raise AssertionError("--show-config must not build a recipe or fetch weights")

    monkeypatch.setattr(MMRBRecipe, "__init__", refuse)
    monkeypatch.setattr(hub, "fetch", refuse)
    config = _show_config("--method", "mmrb", "--preset", "tiny", "--set", "local_d_crops=template",
                          "--set", "lr_milestones=10,20,30")
    assert (config["size"], config["pretrained_losses"], config["local_d_crops"]) == (64, False, "template")
    assert config["lr_milestones"] == [10, 20, 30] and config["lr_schedule"] == "piecewise"
    fusion = _show_config("--method", "fusion", "--init", "fusion.gfpgan-v1.4")
    assert fusion["train_backbone"] is False and fusion["frequency_loss"] == "features"
    assert _show_config("--method", "ddpm", "--preset", "tiny")["channel_mults"] == [1, 2]


def test_docs_recipes_table_is_generated_from_show_config():
    import importlib.util
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    spec = importlib.util.spec_from_file_location("recipes_table", docs / "recipes_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == (docs / "recipes.md").read_text(), "run: python docs/recipes_table.py"
    for method, (_, rows) in module.PAPER.items():
        assert {key for key, _, _ in rows} <= set(module.show_config(method)), method


# -- which parameters train, and one run per recipe with the real loss-network architectures --------------
def test_fusion_with_init_trains_only_the_fusion_blocks_by_default(tmp_path, light_losses):
    from facefix import hub
    from facefix.backends.fusion.network import FusionConfig, FusionGFPGAN
    from facefix.backends.fusion.training import TINY, FusionRecipe

    start = tmp_path / "start.safetensors"  # what --init fusion.gfpgan-v1.4 gives, tiny and offline
    hub.save_state_dict(FusionGFPGAN(FusionConfig.from_gfpgan(**{**TINY, "out_size": 32})).state_dict(), start, {})
    for train_backbone, expected in ((None, "fusion blocks"), (True, "all")):
        config = dataclasses.replace(FusionRecipe.config_class(), preset="tiny", size=32, init=str(start),
                                     pretrained_losses=False, train_backbone=train_backbone)
        recipe = FusionRecipe(config, torch.device("cpu"))
        trained = {n for n, p in recipe.generator.named_parameters() if p.requires_grad}
        grouped = {id(p) for group in recipe.param_groups() for p in group["params"]}
        assert grouped == {id(p) for n, p in recipe.generator.named_parameters() if n in trained}
        if expected == "all":
            assert trained == {n for n, _ in recipe.generator.named_parameters()}
        else:
            assert trained and all(n.startswith("fusion_blocks.") for n in trained)
            assert recipe.config.train_backbone is False


@pytest.mark.slow  # the real ArcFace IR-SE50 and VGG-19 on a CPU
def test_mmrb_tiny_step_with_real_loss_networks_leaves_freeze_d_layers_alone(faces, tmp_path):
    trainer = tiny_trainer(recipe_class("mmrb"), faces, tmp_path, size=32, batch_size=1, max_steps=1,
                           checkpoint_every=0)
    recipe = trainer.recipe
    assert type(recipe.identity.network).__name__ == "Backbone"
    assert len(recipe.feature_matching.features) == VGG19_LAYERS["conv5_2"] + 1
    global_d = recipe.discriminator["global"]
    before = {k: v.clone() for k, v in global_d.state_dict().items()}
    logs = trainer.train()
    assert {"adv_local", "feature_matching", "identity", "d_local"} <= set(logs[0])
    assert all(np.isfinite(v) for v in logs[0].values())
    after = global_d.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in recipe.frozen_d)
    assert any(not torch.equal(before[k], after[k]) for k in before if k not in recipe.frozen_d)


def test_ddpm_tiny_step_trains_on_the_masked_mse(faces, tmp_path):
    # the ddpm recipe has no loss network: its one loss is the MSE on the hole
    trainer = tiny_trainer(recipe_class("ddpm"), faces, tmp_path, size=32, batch_size=1, max_steps=1,
                           checkpoint_every=0)
    assert trainer.recipe.config.lr_schedule == "cosine"
    logs = trainer.train()
    assert set(logs[0]) == {"total", "masked_mse"} and np.isfinite(logs[0]["total"])


@pytest.mark.slow  # the real LPIPS-VGG (random weights) through three tiny LCM steps
def test_interlcm_tiny_step_with_real_lpips_and_the_gan_term(faces, tmp_path):
    trainer = tiny_trainer(recipe_class("interlcm"), faces, tmp_path, size=64, batch_size=1, max_steps=1,
                           checkpoint_every=0, gan_start=0)
    assert type(trainer.recipe.lpips.model).__module__.startswith("lpips")
    logs = trainer.train()
    assert {"l1", "lpips", "gan", "d_hinge"} <= set(logs[0]) and all(np.isfinite(v) for v in logs[0].values())
