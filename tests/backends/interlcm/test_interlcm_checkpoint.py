"""Key specs of the released files, the OpenAI -> HF CLIP key map, and where weights come from."""

from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import shared_path
from interlcm_parts import one_thread  # noqa: F401 - autouse fixture

from facefix import hub
from facefix.backends.interlcm import checkpoint
from facefix.backends.interlcm.checkpoint import official_configs, resolve, split_bundle
from facefix.backends.interlcm.clip import build_clip_vision, openai_to_hf
from facefix.backends.interlcm.components import TINY_CONFIGS, InterLCMModels, load
from facefix.backends.interlcm.visual_encoder import VisualEncoder, VisualEncoderConfig, load_visual_encoder
from facefix.errors import CheckpointError


def _reference(name: str) -> dict:
    return json.loads(shared_path("reference", "interlcm", name).read_text())


def _spec(name: str) -> dict[str, list[int]]:
    return _reference(name)["tensors"]


def _released_file(path, state_dict):
    """As basicsr's save_network writes it: the live weights and the EMA ones (inference uses the EMA)."""
    torch.save({"params": {k: torch.zeros(()).expand(v.shape) for k, v in state_dict.items()},
                "params_ema": state_dict}, path)
    return path


def test_visual_encoder_key_spec_loads_strictly_and_runs(tmp_path):
    spec = _spec("visual_encoder.keys.json")
    assert {k: list(v.shape) for k, v in VisualEncoder().state_dict().items()} == spec
    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=generator) * 0.05 for key, shape in spec.items()}
    path = _released_file(tmp_path / "visual_encoder_3step.pth", state)
    network = load_visual_encoder(hub.load_state_dict(path, wrapper="params_ema"))
    assert network.config == VisualEncoderConfig()  # the released architecture, read from the tensors
    assert sum(p.numel() for p in network.parameters()) == 12_960_845
    for key, value in state.items():
        assert torch.equal(network.state_dict()[key], value), key
    with torch.no_grad():
        assert network(torch.randn(1, 197, 768)).shape == (1, 77, 768)


def test_spatial_encoder_key_spec_loads_strictly(tmp_path):
    spec = _spec("spatial_encoder.keys.json")
    # stride-0 tensors: a file of the released shapes without writing 1.4 GB
    state = {key: torch.zeros(()).expand(shape) for key, shape in spec.items()}
    path = _released_file(tmp_path / "spatial_encoder_3step.pth", state)
    config = official_configs()["spatial_encoder"]
    network = load("spatial_encoder", hub.load_state_dict(path, wrapper="params_ema"), config)
    assert {k: list(v.shape) for k, v in network.state_dict().items()} == spec
    assert sum(p.numel() for p in network.parameters()) == 361_279_120
    state.pop("controlnet_down_blocks.7.weight")
    with pytest.raises(CheckpointError, match="controlnet_down_blocks.7.weight"):
        load("spatial_encoder", state, config)


def test_clip_key_map_converts_the_openai_tower_to_the_hf_model_exactly():
    openai_spec = _spec("clip_vit_b16_openai_visual.keys.json")
    keymap = _reference("clip_vit_b16_openai_to_hf.keymap.json")["map"]
    generator = torch.Generator().manual_seed(0)
    openai = {key: torch.randn(shape, generator=generator) for key, shape in openai_spec.items()}
    converted = openai_to_hf(openai)
    for hf_key, entry in keymap.items():
        m = re.match(r"(.+?)(?:\[(\d+):(\d+)\])?$", entry["openai"])
        source = openai[m.group(1)]
        expected = source[int(m.group(2)):int(m.group(3))] if m.group(2) else source
        assert torch.equal(converted[hf_key.removeprefix("vision_model.")], expected), hf_key
    assert len(converted) == len(keymap)  # visual.proj is dropped: InterLCM uses no projection
    with torch.device("meta"):
        model = build_clip_vision(official_configs()["clip_vision"])
    assert {k: v.shape for k, v in converted.items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_visual_encoder_layout_is_read_from_the_tensors_for_other_sizes():
    config = VisualEncoderConfig(in_tokens=17, out_tokens=77, level_channels=(32, 64, 64), res_blocks=3,
                                 attn_channels=(64,))
    network = VisualEncoder(config)
    assert load_visual_encoder(network.state_dict()).config == config
    broken = {k: v for k, v in network.state_dict().items() if not k.startswith("blocks.3.")}
    with pytest.raises(CheckpointError, match="layout"):
        load_visual_encoder(broken)


@pytest.fixture(scope="module")
def tiny_parts():
    torch.manual_seed(0)
    models = InterLCMModels.from_configs(TINY_CONFIGS["configs"])
    return {role: module.state_dict() for role, module in models.modules().items()}


def _write_folder(folder, parts, names, settings):
    folder.mkdir()
    for role, name in names.items():
        if name.endswith(".pth"):
            torch.save({"params_ema": parts[role]}, folder / name)
        else:
            hub.save_state_dict(parts[role], folder / name)
    (folder / "interlcm.json").write_text(json.dumps(settings))
    return folder


def test_a_folder_of_released_file_names_gives_the_variant_and_every_part(tmp_path, tiny_parts):
    names = {"visual_encoder": "visual_encoder_colorization_1step.pth",
             "spatial_encoder": "spatial_encoder_colorization_1step.pth",
             "unet": "unet.safetensors", "vae": "vae.safetensors", "clip_vision": "clip_vision.safetensors"}
    settings = {"face_size": 64, "configs": TINY_CONFIGS["configs"]}
    folder = _write_folder(tmp_path / "weights", tiny_parts, names, settings)
    weights = resolve(str(folder))
    assert weights.variant.name == "colorization" and not weights.variant.colorfix
    assert weights.face_size == 64
    for role, state in tiny_parts.items():
        assert set(weights.state_dicts[role]) == set(state), role
    # two variants side by side need --variant
    torch.save({"params_ema": tiny_parts["visual_encoder"]}, folder / "visual_encoder_1step.pth")
    with pytest.raises(CheckpointError, match="several visual encoder files"):
        resolve(str(folder))
    torch.save({"params_ema": tiny_parts["spatial_encoder"]}, folder / "spatial_encoder_1step.pth")
    assert resolve(str(folder), "1step").sources["visual_encoder"].endswith("visual_encoder_1step.pth")


def test_missing_encoders_come_from_the_registry_with_a_licence_notice_once(tmp_path, tiny_parts, mirror, caplog,
                                                                              monkeypatch):
    served, _ = mirror
    torch.save({"params_ema": tiny_parts["visual_encoder"]}, served / "visual_encoder_3step.pth")
    torch.save({"params_ema": tiny_parts["spatial_encoder"]}, served / "spatial_encoder_3step.pth")
    names = {"unet": "unet.safetensors", "vae": "vae.safetensors", "clip_vision": "clip.safetensors"}
    folder = _write_folder(tmp_path / "base", tiny_parts, names, {"face_size": 64, "configs": TINY_CONFIGS["configs"]})
    monkeypatch.setattr(checkpoint, "_notice_shown", False)
    weights = resolve(str(folder))
    assert weights.variant.name == "3step"
    assert weights.sources["visual_encoder"].endswith("visual_encoder_3step.pth")
    assert "CC-BY-NC-4.0" in caplog.text  # the command line prints the facefix.backends log
    caplog.clear()
    monkeypatch.setattr(checkpoint, "_notice_shown", False)
    resolve(str(folder))  # cached now: nothing is downloaded, nothing to say
    assert "CC-BY-NC" not in caplog.text


def test_bad_weights_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file or folder"):
        resolve(str(tmp_path / "absent"))
    with pytest.raises(CheckpointError, match="names no InterLCM part"):
        split_bundle({"decoder.weight": torch.zeros(1)})
    torch.save({"params_ema": {"blocks.0.weight": torch.zeros(1)}}, tmp_path / "visual_encoder_1step.pth")
    with pytest.raises(CheckpointError, match="pass the folder"):
        resolve(str(tmp_path / "visual_encoder_1step.pth"))
    with pytest.raises(CheckpointError, match="not an InterLCM encoder checkpoint"):
        resolve("interlcm.lcm-dreamshaper-v7-unet")
    with pytest.raises(CheckpointError, match="is the 1step model"):
        resolve("interlcm.visual-encoder-1step", "3step")
    with pytest.raises(CheckpointError, match="unknown InterLCM variant"):
        resolve(None, "2step")
