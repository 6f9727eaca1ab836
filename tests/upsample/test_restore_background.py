"""`facefix restore --bg-upsampler realesrgan` as a user runs it: the reference golden, defaults per device,
kinds of pictures, face upsampling, videos and the identity report."""

from __future__ import annotations

import json
import subprocess

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from conftest import shared_path
from PIL import Image
from typer.testing import CliRunner

from facefix import backends
from facefix.cli import app
from facefix.commands import background
from facefix.upsample import RRDBConfig, load_upsampler
from facefix.upsample.network import build_rrdbnet

runner = CliRunner()
REFERENCE = ("reference", "realesrgan")


@pytest.fixture(autouse=True)
def _test_backend(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "fusion", backends.Backend(restorer="restorers:BrightenRestorer"))


@pytest.fixture
def tiny_weights(tmp_path):
    """A small random RRDBNet (x2) saved the way Real-ESRGAN's releases are (``params_ema``)."""
    torch.manual_seed(3)
    path = tmp_path / "tiny_x2.pth"
    torch.save({"params_ema": build_rrdbnet(RRDBConfig(scale=2, num_feat=8, num_block=1, num_grow_ch=4))
                .state_dict()}, path)
    return path


def _restore(*args: str):
    weights = shared_path("data", "weights", "detection_mobilenet0.25_Final.pth")
    return runner.invoke(app, ["restore", *args, "--device", "cpu", "--detector", "retinaface_mobile0.25",
                               "--detector-weights", str(weights)], env={"COLUMNS": "200"})


def _grey_levels(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


@pytest.mark.parametrize("faces_in_bf16", [False, True], ids=["probe-fp32", "probe-bf16"])
@pytest.mark.parametrize("tile", [0, 64])
def test_reference_golden_from_the_command_line(shared, tmp_path, tile, faces_in_bf16, monkeypatch):
    if faces_in_bf16:  # --precision auto runs the faces in bf16 on this CPU: the upsampler stays in fp32
        from facefix import precision

        monkeypatch.setattr(precision, "measure", lambda cls, **kwargs: precision.ProbeResult(2.0, 1.0, 1, "test"))
    folder = shared(*REFERENCE)
    # the golden's weights, saved by this test as a user would have them
    weights = tmp_path / "realesrgan_small.pth"
    weights.write_bytes((folder / "realesrgan_small.pth").read_bytes())
    result = _restore(str(folder / "realesrgan_small_in.png"), "--upscale", "2", "--bg-upsampler", "realesrgan",
                      "--bg-weights", str(weights), "--bg-tile", str(tile), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    output = cv2.imread(str(tmp_path / "out" / "realesrgan_small_in.png"))
    expected = cv2.imread(str(folder / f"realesrgan_small_expected_tile{tile}.png"))
    assert output.shape == expected.shape == (480, 480, 3)
    assert _grey_levels(output, expected) <= 1


def test_cpu_default_is_a_plain_resize_with_one_note(tmp_path, rng):
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    result = _restore(str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--upscale", "2", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert result.output.count("--bg-upsampler realesrgan") == 1
    source = cv2.imread(str(tmp_path / "a.png"))
    assert np.array_equal(cv2.imread(str(tmp_path / "out" / "a.png")),
                          cv2.resize(source, (64, 48), interpolation=cv2.INTER_LANCZOS4))
    same_size = _restore(str(tmp_path / "a.png"), "-o", str(tmp_path / "same"))
    assert same_size.exit_code == 0 and "--bg-upsampler" not in same_size.output


def test_default_choice_per_device():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert background.use_realesrgan(None, None, 2, gpu) and not background.use_realesrgan(None, None, 1, gpu)
    assert not background.use_realesrgan(None, None, 2, cpu)
    assert background.use_realesrgan(None, "w.pth", 2, cpu)  # naming weights asks for it
    assert background.use_realesrgan(background.BgUpsampler.realesrgan, None, 2, cpu)
    assert not background.use_realesrgan(background.BgUpsampler.none, "w.pth", 2, gpu)


def test_sixteen_bit_gray_and_alpha_keep_their_kind(tmp_path, rng, tiny_weights):
    colour = rng.integers(0, 256, (20, 28, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "deep.png"), colour.astype(np.uint16) * 257 + rng.integers(0, 257, colour.shape,
                                                                                          dtype=np.uint16))
    cv2.imwrite(str(tmp_path / "gray.png"), colour[..., 0])
    alpha = np.zeros((20, 28), np.uint8)
    alpha[5:15, 6:20] = 255
    cv2.imwrite(str(tmp_path / "alpha.png"), np.dstack([colour, alpha]))
    names = ("deep.png", "gray.png", "alpha.png")
    result = _restore(*(str(tmp_path / n) for n in names), "--upscale", "2", "--bg-weights", str(tiny_weights),
                      "--bg-tile", "16", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    for name in names:
        before, after = Image.open(tmp_path / name), Image.open(tmp_path / "out" / name)
        assert after.size == (56, 40) and after.mode == before.mode, name
    deep = cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and len(np.unique(deep % 257)) > 1
    # colour and alpha each went through the network (no faces in these pictures)
    upsampler = load_upsampler(tiny_weights, upscale=2, device=torch.device("cpu"), tile=16)
    restored = cv2.imread(str(tmp_path / "out" / "alpha.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(restored[..., :3], upsampler.enhance(colour))
    assert np.array_equal(restored[..., 3], upsampler.enhance_alpha(alpha))


def _faces_photo(tmp_path):
    photo = cv2.imread(str(shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", "00.jpg")))
    photo = cv2.resize(photo, (photo.shape[1] // 2 // 2 * 2, photo.shape[0] // 2 // 2 * 2),
                       interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "faces.png"), photo)
    return tmp_path / "faces.png"


def test_faces_are_pasted_on_the_upsampled_background_and_face_upsample_changes_only_faces(tmp_path, tiny_weights):
    photo = _faces_photo(tmp_path)
    common = ["--upscale", "2", "--bg-weights", str(tiny_weights), "--bg-tile", "64"]
    plain = _restore(str(photo), *common, "-o", str(tmp_path / "plain"), "--report", str(tmp_path / "r.json"))
    upsampled = _restore(str(photo), *common, "--face-upsample", "-o", str(tmp_path / "faces"))
    assert plain.exit_code == 0 and upsampled.exit_code == 0, plain.output + upsampled.output
    boxes = [np.array(face["box"]) * 2 for face in json.loads((tmp_path / "r.json").read_text())["files"][0]["faces"]]
    assert boxes
    a = cv2.imread(str(tmp_path / "plain" / "faces.png")).astype(int)
    b = cv2.imread(str(tmp_path / "faces" / "faces.png")).astype(int)
    outside = np.ones(a.shape[:2], bool)
    for x0, y0, x1, y1 in boxes:  # a face's paste region lies within twice its box
        w, h = x1 - x0, y1 - y0
        outside[max(int(y0 - h), 0):int(y1 + h), max(int(x0 - w), 0):int(x1 + w)] = False
    assert np.array_equal(a[outside], b[outside])
    assert np.abs(a - b)[~outside].mean() > 1


def test_identity_report_per_face(tmp_path, monkeypatch, light_losses):
    from facefix.quality import metrics

    real = metrics.IdentityMetric
    monkeypatch.setattr(metrics, "IdentityMetric", lambda device: real(device, pretrained=False))
    result = _restore(str(_faces_photo(tmp_path)), "--report-identity", "--report", str(tmp_path / "r.json"),
                      "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    faces = json.loads((tmp_path / "r.json").read_text())["files"][0]["faces"]
    assert faces and all(0 < face["identity_angle"] < 180 for face in faces)


def test_video_frames_go_through_the_upsampler(tmp_path, tiny_weights):
    frame = np.tile(np.linspace(0, 255, 48, dtype=np.uint8)[None, :, None], (32, 1, 3))
    cv2.imwrite(str(tmp_path / "frame.png"), frame)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-loop", "1", "-i",
                    str(tmp_path / "frame.png"), "-frames:v", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(tmp_path / "clip.mp4")], check=True)
    result = _restore(str(tmp_path / "clip.mp4"), "--upscale", "2", "--bg-weights", str(tiny_weights),
                      "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    frames = imageio_ffmpeg.read_frames(str(tmp_path / "out" / "clip.mp4"))
    meta = next(frames)
    first = np.frombuffer(next(frames), np.uint8).reshape(64, 96, 3)
    assert meta["size"] == (96, 64)
    # a random network, not a smooth resize of the ramp: the upsampler made these frames
    resized = cv2.resize(frame, (96, 64), interpolation=cv2.INTER_LANCZOS4)[..., ::-1]
    assert np.abs(first.astype(int) - resized).mean() > 10


def test_x4_network_at_another_upscale_is_resized_with_lanczos(tmp_path, rng):
    torch.manual_seed(4)
    weights = tmp_path / "tiny_x4.pth"
    torch.save(build_rrdbnet(RRDBConfig(scale=4, num_feat=8, num_block=1, num_grow_ch=4)).state_dict(), weights)
    picture = rng.integers(0, 256, (15, 21, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "p.png"), picture)
    result = _restore(str(tmp_path / "p.png"), "--upscale", "3", "--bg-weights", str(weights), "--bg-tile", "8",
                      "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    native = load_upsampler(weights, upscale=3, device=torch.device("cpu"), tile=8).enhance(picture)
    assert native.shape == (60, 84, 3)
    expected = cv2.resize(native, (63, 45), interpolation=cv2.INTER_LANCZOS4)
    assert np.array_equal(cv2.imread(str(tmp_path / "out" / "p.png")), expected)


def test_bad_background_weights_are_one_line_errors(tmp_path, rng):
    cv2.imwrite(str(tmp_path / "p.png"), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    torch.save({"params_ema": {"conv.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    for weights, cause in (("missing.pth", "no such file"), (str(tmp_path / "other.pth"), "not an RRDBNet")):
        result = _restore(str(tmp_path / "p.png"), "--upscale", "2", "--bg-weights", weights, "-o", str(tmp_path))
        assert result.exit_code != 0 and cause in result.output and "Traceback" not in result.output


def test_auto_precision_of_the_upsampler_is_fp32_on_the_cpu_and_fp16_on_a_gpu():
    assert background.background_dtype("auto", torch.device("cpu")) == torch.float32
    assert background.background_dtype("auto", torch.device("cuda")) == torch.float16
    assert background.background_dtype("bf16", torch.device("cpu")) == torch.bfloat16  # as asked
