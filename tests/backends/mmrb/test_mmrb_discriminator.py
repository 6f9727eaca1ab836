"""GPEN's discriminator (golden, key spec), FreezeD, and the local discriminators' crops."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import shared_path

from facefix import hub
from facefix.backends.mmrb.discriminator import FREEZE_D_CONVS, LocalDiscriminator, freeze_convs, load_discriminator
from facefix.face.components import COMPONENTS, component_boxes, crop_components
from facefix.errors import CheckpointError


@pytest.fixture(scope="module")
def golden():
    return torch.load(shared_path("reference", "gpen_small_d.golden.pt"), weights_only=True)


def test_golden_logits_features_and_batch_wide_stddev(golden):
    network = load_discriminator(golden["state_dict"]).eval()
    expected = golden["outputs"]
    with torch.no_grad():
        logit, features = network(golden["input"], return_features=True)
        assert (logit - expected["logit"]).abs().max() < 1e-4
        for ours, theirs in zip(features, [*expected["convs_feats"], expected["final_conv"]], strict=True):
            assert (ours - theirs).abs().max() < 1e-4
        # the stddev statistic spans the whole batch, so sub-batches give other logits
        assert (network(golden["input"][:2]) - expected["logit_first2"]).abs().max() < 1e-4
        assert (network(golden["input"][:1]) - expected["logit_first1"]).abs().max() < 1e-4


def test_full_512_d_key_spec_loads_strictly_bare_or_wrapped(tmp_path):
    spec = json.loads(shared_path("reference", "gpen_bfr_512_d.keys.json").read_text())
    state = {key: torch.zeros(shape) for key, shape in spec["tensors"].items()}
    torch.save({"d": state, "g": {}}, tmp_path / "train.pth")
    network = load_discriminator(hub.load_state_dict(tmp_path / "train.pth", wrapper="d"))
    assert network.size == 512
    assert sum(p.numel() for p in network.parameters()) == spec["num_parameter_elements"]
    with pytest.raises(CheckpointError, match="not a GPEN discriminator"):
        load_discriminator({"convs.0.0.weight": torch.zeros(1)})


def test_freeze_d_freezes_the_first_five_convolutions_stem_and_two_blocks(golden):
    network = load_discriminator(golden["state_dict"])
    frozen = freeze_convs(network)
    assert FREEZE_D_CONVS == 5
    spec = json.loads(shared_path("reference", "gpen_bfr_512_d.keys.json").read_text())
    candidates = spec["freezeD_candidates"]
    # between the reference's two readings: all of reading B's modules, within reading A's blocks
    blocks = ("convs.0.", "convs.1.", "convs.2.")
    in_blocks = {n for n, _ in network.named_parameters() if n.startswith(blocks)}
    assert set(frozen) == in_blocks
    assert {n for n, p in network.named_parameters() if not p.requires_grad} == in_blocks
    assert all(any(n.startswith(f"{m}.") for n in frozen) for m in candidates["reading_B_first_five_conv_modules"])
    assert set(frozen) < {n for n, _ in network.named_parameters()
                          if n.startswith(tuple(f"{b}." for b in candidates["reading_A_first_five_blocks"]))}
    # nine convolutions are GPEN's first five blocks (the other reading)
    network = load_discriminator(golden["state_dict"])
    assert {n.split(".")[1] for n in freeze_convs(network, 9)} == {"0", "1", "2", "3", "4"}


def test_component_crops_land_on_the_landmarks():
    size = 128
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    coordinates = torch.stack([xs, ys, torch.zeros_like(xs)])[None].repeat(2, 1, 1, 1)
    landmarks = torch.tensor([[[40.0, 50.0], [80.0, 50.0], [60.0, 70.0], [45.0, 90.0], [75.0, 90.0]],
                              [[30.0, 40.0], [70.0, 44.0], [50.0, 60.0], [38.0, 84.0], [66.0, 86.0]]])
    crops = crop_components(coordinates, landmarks, crop_size=16)
    boxes = component_boxes(landmarks)
    centres = {"left_eye": landmarks[:, 0], "right_eye": landmarks[:, 1], "mouth": landmarks[:, 3:5].mean(1)}
    for name in COMPONENTS:
        crop = crops[name]
        assert crop.shape == (2, 3, 16, 16)
        # pixel values are their own coordinates: the crop's mean is the component's centre
        mean_xy = crop[:, :2].mean(dim=(2, 3))
        assert torch.allclose(mean_xy, centres[name] - 0.5, atol=0.6), name
        side = boxes[name][:, 2] - boxes[name][:, 0]
        span = crop[:, 0, 0, -1] - crop[:, 0, 0, 0]
        assert torch.allclose(span, side * 15 / 16, atol=0.6), name
    eye_distance = (landmarks[:, 1] - landmarks[:, 0]).norm(dim=1)
    assert torch.allclose(boxes["mouth"][:, 2] - boxes["mouth"][:, 0], 1.2 * eye_distance)


def test_crops_pass_gradients_and_local_d_outputs_a_one_channel_map():
    faces = torch.rand(2, 3, 64, 64, requires_grad=True)
    landmarks = torch.tensor([[[20.0, 26.0], [44.0, 26.0], [32.0, 36.0], [24.0, 46.0], [40.0, 46.0]]]).repeat(2, 1, 1)
    crop = crop_components(faces, landmarks, crop_size=16)["mouth"]
    out = LocalDiscriminator(8)(crop)
    assert out.shape == (2, 1, 4, 4)  # two down-samplings
    out.sum().backward()
    assert faces.grad.abs().sum() > 0
    assert faces.grad[:, :, :10].abs().sum() == 0  # nothing above the mouth box contributes


def test_68_point_landmarks_are_reduced_to_five():
    points = torch.zeros(1, 68, 2)
    points[0, 36:42] = torch.tensor([10.0, 20.0])
    points[0, 42:48] = torch.tensor([30.0, 20.0])
    points[0, 48] = torch.tensor([12.0, 40.0])
    points[0, 54] = torch.tensor([28.0, 40.0])
    boxes = component_boxes(points)
    assert torch.allclose(boxes["left_eye"], torch.tensor([[2.0, 12.0, 18.0, 28.0]]))
    assert torch.allclose(boxes["mouth"], torch.tensor([[8.0, 28.0, 32.0, 52.0]]))
