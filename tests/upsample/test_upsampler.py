"""The Real-ESRGAN background upsampler: loading, the reference processing, kinds of pictures, OOM tiles."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from facefix.errors import CheckpointError, FacefixError
from facefix.upsample import (BackgroundUpsampler, RRDBConfig, config_from_state_dict, load_upsampler,
                              rrdbnet_from_state_dict)
from facefix.upsample.network import build_rrdbnet

CPU = torch.device("cpu")
REFERENCE = ("reference", "realesrgan")


def tiny_upsampler(scale: int = 2, tile: int = 0, seed: int = 0, **kwargs) -> BackgroundUpsampler:
    torch.manual_seed(seed)
    config = RRDBConfig(scale=scale, num_feat=8, num_block=1, num_grow_ch=4)
    return BackgroundUpsampler(build_rrdbnet(config), config, CPU, tile=tile, **kwargs)


def grey_levels(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


@pytest.mark.parametrize("tile", [0, 64])
def test_reference_golden_from_the_module(shared, tile):
    folder = shared(*REFERENCE)
    golden = torch.load(folder / "realesrgan_small.golden.pt", weights_only=True)
    upsampler = load_upsampler(folder / "realesrgan_small.pth", upscale=2, device=CPU, tile=tile)
    assert upsampler.config == RRDBConfig(**golden["config"])
    image = cv2.imread(str(folder / "realesrgan_small_in.png"))
    output = upsampler.enhance(image, (480, 480))
    assert grey_levels(output, golden[f"expected_tile{tile}"].numpy()) <= 1


@pytest.mark.parametrize("name, scale", [("realesrgan_x2plus", 2), ("realesrgan_x4plus", 4)])
def test_released_key_specs_load_strictly_and_run(shared, name, scale):
    spec = json.loads(shared(*REFERENCE, f"{name}.keys.json").read_text())
    state_dict = {key: torch.zeros(shape) for key, shape in spec["tensors"].items()}
    network, config = rrdbnet_from_state_dict(state_dict, name)
    assert config == RRDBConfig(scale=scale, num_feat=64, num_block=23, num_grow_ch=32)
    assert set(network.state_dict()) == set(state_dict)
    upsampler = BackgroundUpsampler(network, config, CPU, tile=0)
    output = upsampler.enhance(np.full((6, 10, 3), 128, np.uint8))
    assert output.shape == (6 * scale, 10 * scale, 3) and output.dtype == np.uint8


def test_config_from_shapes_for_every_scale_and_wrapper(tmp_path):
    for scale in (1, 2, 4):
        config = RRDBConfig(scale=scale, num_feat=12, num_block=2, num_grow_ch=6)
        state_dict = build_rrdbnet(config).state_dict()
        assert config_from_state_dict(state_dict) == config
    for wrapper in ("params_ema", "params", None):
        path = tmp_path / f"{wrapper}.pth"
        torch.save({wrapper: state_dict} if wrapper else state_dict, path)
        assert load_upsampler(path, upscale=2, device=CPU).config == config


def test_foreign_and_mismatched_files_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="not an RRDBNet"):
        config_from_state_dict({"conv.weight": torch.zeros(1)}, "other.pth")
    state_dict = build_rrdbnet(RRDBConfig(scale=2, num_feat=8, num_block=1, num_grow_ch=4)).state_dict()
    state_dict["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="does not fit RRDBNet"):
        rrdbnet_from_state_dict(state_dict, "extra.pth")
    pickled = tmp_path / "object.pth"
    torch.save({"params_ema": state_dict, "obj": nn.ReLU()}, pickled)
    with pytest.raises(CheckpointError, match="refused"):
        load_upsampler(pickled, upscale=2, device=CPU)


@pytest.mark.parametrize("scale, size", [(2, (37, 23)), (1, (30, 18)), (4, (9, 14))])
def test_tiles_match_the_whole_image_for_odd_sizes_and_every_scale(rng, scale, size):
    image = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    whole = tiny_upsampler(scale, tile=0).enhance(image)
    tiled = tiny_upsampler(scale, tile=8).enhance(image)
    assert whole.shape == (size[1] * scale, size[0] * scale, 3)
    assert grey_levels(whole, tiled) <= 1


def test_tiled_and_untiled_agree_on_a_real_photo(shared):
    folder = shared(*REFERENCE)
    photo = cv2.imread(str(shared("data", "real", "GFPGAN", "inputs", "whole_imgs", "00.jpg")))
    photo = cv2.resize(photo, (photo.shape[1] // 8, photo.shape[0] // 8), interpolation=cv2.INTER_AREA)  # 162 x 240
    whole = load_upsampler(folder / "realesrgan_small.pth", upscale=2, device=CPU, tile=0).enhance(photo)
    tiled = load_upsampler(folder / "realesrgan_small.pth", upscale=2, device=CPU, tile=48).enhance(photo)
    assert grey_levels(whole, tiled) <= 1
    assert whole.std() > 5  # a real picture came out, not a flat one


def test_outscale_other_than_the_network_scale_is_a_lanczos_resize(rng):
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    upsampler = tiny_upsampler(2)
    native = upsampler.enhance(image)
    assert np.array_equal(upsampler.enhance(image, (45, 30)),
                          cv2.resize(native, (45, 30), interpolation=cv2.INTER_LANCZOS4))


def test_sixteen_bit_keeps_its_depth(rng):
    image16 = rng.integers(0, 65536, (16, 16, 3), dtype=np.uint16)
    upsampler = tiny_upsampler(2)
    output16 = upsampler.enhance(image16)
    assert output16.dtype == np.uint16
    # same network on the same picture in 8 bits: within the 8-bit rounding
    output8 = upsampler.enhance((image16 / 257).round().astype(np.uint8))
    assert grey_levels((output16 / 257).round(), output8) <= 1
    assert len(np.unique(output16 % 257)) > 1  # values between the 8-bit levels: really 16-bit


def test_alpha_goes_through_the_network_alone(rng):
    upsampler = tiny_upsampler(2)
    alpha = rng.integers(0, 256, (12, 14), dtype=np.uint8)
    output = upsampler.enhance_alpha(alpha)
    gray = upsampler.enhance(np.repeat(alpha[..., None], 3, axis=2))
    assert output.shape == (24, 28) and output.dtype == np.uint8
    assert grey_levels(output, cv2.cvtColor(gray[..., ::-1], cv2.COLOR_RGB2GRAY)) <= 1


class RunsOutOfMemory(nn.Module):
    """A network that fails like a full GPU on inputs larger than ``limit`` pixels a side."""

    def __init__(self, network: nn.Module, limit: int):
        super().__init__()
        self.network, self.limit, self.sizes = network, limit, []

    def forward(self, x):
        self.sizes.append(max(x.shape[-2:]))
        if max(x.shape[-2:]) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.network(x)


def test_out_of_memory_halves_the_tile_and_keeps_it(rng):
    reference = tiny_upsampler(2, tile=0)
    image = rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)
    expected = reference.enhance(image)
    halved = []
    failing = RunsOutOfMemory(reference.network, limit=40)
    upsampler = BackgroundUpsampler(failing, reference.config, CPU, tile=64, on_tile_halved=halved.append)
    assert grey_levels(upsampler.enhance(image), expected) <= 1
    assert halved == [32, 16] and upsampler.tile == 16  # 64 + pads > 40, 32 + pads = 52 > 40, 16 + pads = 36
    failing.sizes.clear()
    upsampler.enhance(image)  # the next picture starts with the tile that fitted
    assert max(failing.sizes) <= 40 and halved == [32, 16]


def test_out_of_memory_on_the_whole_image_starts_tiling_and_gives_up_below_the_minimum(rng):
    reference = tiny_upsampler(2, tile=0)
    image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    upsampler = BackgroundUpsampler(RunsOutOfMemory(reference.network, limit=39), reference.config, CPU, tile=0)
    assert grey_levels(upsampler.enhance(image), reference.enhance(image)) <= 1
    assert upsampler.tile == 20
    hopeless = BackgroundUpsampler(RunsOutOfMemory(reference.network, limit=4), reference.config, CPU, tile=64)
    with pytest.raises(FacefixError, match="out of memory .* even for 16-pixel tiles"):
        hopeless.enhance(image)


def test_x4_network_above_upscale_2_and_registry_entries():
    from facefix.registry import get_checkpoint
    from facefix.upsample.network import default_weights_id

    assert [default_weights_id(u) for u in (1, 1.5, 2, 2.5, 4)] == ["realesrgan.x2plus"] * 3 + ["realesrgan.x4plus"] * 2
    for tag, scale in (("x2plus", 2), ("x4plus", 4)):
        checkpoint = get_checkpoint(f"realesrgan.{tag}")
        assert checkpoint.license == "BSD-3-Clause" and checkpoint.wrapper == "params_ema"
        assert len(checkpoint.sha256) == 64 and checkpoint.config["scale"] == scale


def test_one_pixel_high_pictures_are_padded_too(rng):
    image = rng.integers(0, 256, (1, 7, 3), dtype=np.uint8)
    assert tiny_upsampler(1).enhance(image).shape == (1, 7, 3)
    assert tiny_upsampler(2, tile=4).enhance(image).shape == (2, 14, 3)
