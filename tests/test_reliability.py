"""The bad-input and fault corpus: nothing replaced, nothing corrupt, nothing stopped by one file."""

from __future__ import annotations

import io
import multiprocessing
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from restorers import BrightenRestorer
from typer.testing import CliRunner

from facefix import backends, files, media, runner
from facefix.cli import app
from facefix.errors import InputError
from facefix.face.detect import DetectedFace
from facefix.inpainting import composite
from facefix.media import InputFile, expand_inputs, read_image, write_image
from facefix.pipeline import FaceRestorePipeline
from facefix.runner import OutputOptions, exclude_outputs, restore_files

cli = CliRunner()


class _CenterFace:
    """One face in the middle of every picture, without detection weights."""

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        h, w = image.shape[:2]
        points = np.array([[0.4, 0.4], [0.6, 0.4], [0.5, 0.5], [0.42, 0.62], [0.58, 0.62]]) * (w, h)
        return [DetectedFace(np.array([0.25 * w, 0.25 * h, 0.75 * w, 0.75 * h]), points.astype(np.float32), 0.9)]


class _NoFace:
    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        return []


def _pipeline(detector=None) -> FaceRestorePipeline:
    return FaceRestorePipeline(BrightenRestorer.load(), detector or _CenterFace())


def _png(path: Path, value: int = 90, size: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size, size, 3), value, np.uint8))
    return path


def _camera_jpeg(path: Path, quality: int = 80) -> Path:
    """A JPEG with EXIF (camera make, orientation) and an ICC profile, as phones write them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 255, (64, 96, 3), np.uint8))
    exif = image.getexif()
    exif[0x010F] = "FacefixCam"  # Make
    exif[0x0112] = 6
    icc = b"\0" * 128 + b"fake-icc-profile"
    image.save(path, quality=quality, exif=exif, icc_profile=icc)
    return path


def _items(*paths: Path) -> list[InputFile]:
    return [InputFile(p, Path(p.name)) for p in paths]


@pytest.fixture(autouse=True)
def _test_backend(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "fusion", backends.Backend(restorer="restorers:BrightenRestorer"))
    monkeypatch.setattr(media, "pixel_limit", media.DEFAULT_MEGAPIXELS * 1_000_000)


def _cli(*args: str):
    return cli.invoke(app, ["restore", *args], env={"COLUMNS": "200"})


# 1. --report never replaces an input or an existing file

def test_report_onto_an_input_is_refused_and_the_input_kept(tmp_path):
    photo = _png(tmp_path / "x.png")
    before = photo.read_bytes()
    result = _cli(str(photo), "--aligned", "-o", str(tmp_path / "out"), "--report", str(photo))
    assert result.exit_code == 1 and "--report would replace an input" in result.output
    assert "Traceback" not in result.output and photo.read_bytes() == before
    result = _cli(str(photo), "--aligned", "-o", str(tmp_path / "out2"), "--report", str(photo), "--overwrite")
    assert result.exit_code == 1 and photo.read_bytes() == before  # not even with --overwrite


def test_report_onto_an_existing_file_needs_overwrite(tmp_path):
    photo = _png(tmp_path / "in" / "x.png")
    notes = tmp_path / "notes.json"
    notes.write_text("mine")
    result = _cli(str(photo), "--aligned", "-o", str(tmp_path / "out"), "--report", str(notes))
    assert result.exit_code == 1 and "already exists" in result.output and notes.read_text() == "mine"
    assert not (tmp_path / "out").exists()  # refused before any work
    result = _cli(str(photo), "--aligned", "-o", str(tmp_path / "out"), "--report", str(notes), "--overwrite")
    assert result.exit_code == 0, result.output
    assert '"restored": 1' in notes.read_text()


def test_report_onto_an_output_of_the_run_keeps_the_output(tmp_path):
    photo = _png(tmp_path / "in" / "x.png")
    out = tmp_path / "out"
    result = _cli(str(photo), "--aligned", "-o", str(out), "--report", str(out / "x.png"), "--overwrite")
    assert result.exit_code == 1 and "an output of this run, never replaced" in result.output, result.output
    with Image.open(out / "x.png") as image:
        image.load()  # still the restored picture, not JSON


# 2. runs into one folder: an output that appears meanwhile is kept, never a corrupt file

def test_an_output_written_by_another_run_meanwhile_is_kept(tmp_path, monkeypatch):
    items = _items(_png(tmp_path / "in" / "a.png"), _png(tmp_path / "in" / "b.png"))
    out = tmp_path / "out"
    real = runner.write_image

    def other_run_first(path, picture, **kwargs):
        if path.name == "a.png":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"the other run's a.png")  # appeared after the start-of-run check
        return real(path, picture, **kwargs)

    monkeypatch.setattr(runner, "write_image", other_run_first)
    reports = restore_files(items, _pipeline(), OutputOptions(output_dir=out))
    assert [r.status for r in reports] == ["skipped-existing", "restored"]
    assert (out / "a.png").read_bytes() == b"the other run's a.png"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]


def _run_into(folder: str, out: str, compare: bool) -> list[str]:
    items = expand_inputs([folder], recursive=False)[0]
    options = OutputOptions(output_dir=Path(out), compare=compare)
    return [r.status for r in restore_files(items, _pipeline(), options, images_per_batch=2)]


@pytest.mark.slow  # two fresh interpreters importing torch: about 30 s on 2 cores
def test_two_processes_into_one_folder_write_each_output_once_and_whole(tmp_path):
    for i in range(16):
        _png(tmp_path / "in" / f"{i:02d}.png", value=10 * i, size=96)
    out = tmp_path / "out"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        first, second = pool.starmap(_run_into, [(str(tmp_path / "in"), str(out), False),
                                                 (str(tmp_path / "in"), str(out), True)])
    assert all(sorted((a, b)) == ["restored", "skipped-existing"] for a, b in zip(first, second)), (first, second)
    for i in range(16):
        with Image.open(out / f"{i:02d}.png") as image:
            image.load()  # a torn PNG fails here (CRC / truncated)
    assert not [p for p in out.rglob("*") if "partial" in p.name]


# 3. one bad file never stops the run

def test_a_corrupt_video_in_a_folder_fails_alone(tmp_path):
    _png(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "broken.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + b"garbage" * 100)
    _png(tmp_path / "in" / "z.png")
    items = expand_inputs([str(tmp_path / "in")], recursive=False)[0]
    reports = restore_files(items, _pipeline(), OutputOptions(output_dir=tmp_path / "out"))  # videos too
    assert [r.status for r in reports] == ["restored", "failed", "restored"]
    assert reports[1].error.startswith(f"{tmp_path / 'in' / 'broken.mp4'}: ") and "\n" not in reports[1].error
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "z.png"]


def test_a_name_too_long_for_the_file_system_is_shortened_not_fatal(tmp_path):
    long_input = _png(tmp_path / "in" / ("x" * 240 + ".png"))
    _png(tmp_path / "in" / "b.png")
    items = expand_inputs([str(tmp_path / "in")], recursive=False)[0]
    options = OutputOptions(output_dir=tmp_path / "out", suffix="_restored_by_facefix")
    reports = restore_files(items, _pipeline(), options)
    assert [r.status for r in reports] == ["restored", "restored"]
    written = Path(next(r.output for r in reports if r.input == str(long_input)))
    assert written.exists() and len(written.name) <= 255 and written.name.startswith("x" * 100)
    again = restore_files(items, _pipeline(), options)  # the shortened name is stable: a rerun skips it
    assert [r.status for r in again] == ["skipped-existing", "skipped-existing"]


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("CUDA error: an illegal memory access")])
def test_any_error_of_the_look_ahead_names_its_file_and_the_run_goes_on(tmp_path, error):
    paths = [_png(tmp_path / "in" / f"{name}.png", value=v) for name, v in (("a", 40), ("bad", 77), ("c", 120))]

    class Detector(_CenterFace):
        def detect(self, image):
            if int(image.mean()) == 77:
                raise error
            return super().detect(image)

    reports = restore_files(_items(*paths), _pipeline(Detector()), OutputOptions(output_dir=tmp_path / "out"),
                            images_per_batch=3)
    assert [r.status for r in reports] == ["restored", "failed", "restored"]
    assert reports[1].error.startswith(f"{paths[1]}: {type(error).__name__}")


def test_out_of_disk_stops_the_run(tmp_path, monkeypatch):
    paths = [_png(tmp_path / "in" / f"{i}.png") for i in range(3)]

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(files.DiskFullError, match="out of disk space"):
        restore_files(_items(*paths), _pipeline(), OutputOptions(output_dir=tmp_path / "out"))


# Also: --compare, outputs as inputs, unchanged files, JPEG metadata

def test_compare_never_replaces_an_existing_image_and_names_do_not_collide(tmp_path):
    a_png, a_jpg = _png(tmp_path / "in" / "a.png"), tmp_path / "in" / "a.jpg"
    cv2.imwrite(str(a_jpg), np.full((64, 64, 3), 150, np.uint8))
    out = tmp_path / "out"
    reports = restore_files(_items(a_jpg, a_png), _pipeline(), OutputOptions(output_dir=out, compare=True))
    assert [r.status for r in reports] == ["restored", "restored"]
    assert sorted(p.name for p in (out / "compare").iterdir()) == ["a_jpg.png", "a_png.png"]

    mine = _png(tmp_path / "in2" / "b.png")
    (out / "compare" / "b.png").write_bytes(b"my own comparison")
    reports = restore_files(_items(mine), _pipeline(), OutputOptions(output_dir=out, compare=True))
    assert reports[0].status == "failed" and "compare/b.png: already exists" in reports[0].error
    assert (out / "compare" / "b.png").read_bytes() == b"my own comparison"


def test_suffixed_outputs_in_the_input_folder_are_not_restored_again(tmp_path):
    folder = tmp_path / "photos"
    for name in ("01", "02"):
        _png(folder / f"{name}.png")
    args = (str(folder), "--aligned", "-o", str(folder), "--suffix", "_fixed")
    assert _cli(*args).exit_code == 0
    result = _cli(*args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["01.png", "01_fixed.png", "02.png", "02_fixed.png"]


def test_a_same_named_photo_is_not_taken_for_an_output_without_a_suffix(tmp_path):
    folder = tmp_path / "photos"
    jpg, png = folder / "a.jpg", _png(folder / "a.png", value=33)
    cv2.imwrite(str(jpg), np.full((64, 64, 3), 99, np.uint8))
    before = png.read_bytes()
    result = _cli(str(folder), "--aligned", "-o", str(folder), "--ext", "png", "--overwrite")
    assert result.exit_code == 1 and "would overwrite an input" in result.output
    assert png.read_bytes() == before


def test_an_output_folder_inside_the_input_tree_is_not_walked(tmp_path):
    folder = tmp_path / "photos"
    _png(folder / "a.png")
    _png(folder / "restored" / "a.png")
    _png(folder / "restored" / "compare" / "a.png")
    items = expand_inputs([str(folder)], recursive=True)[0]
    kept = exclude_outputs(items, OutputOptions(output_dir=folder / "restored"))
    assert [item.relative for item in kept] == [Path("a.png")]
    _png(folder / "compare" / "a_x.png")
    _png(folder / "faces" / "a_x_face00.png")
    items = expand_inputs([str(folder)], recursive=True)[0]
    kept = exclude_outputs(items, OutputOptions(output_dir=folder, suffix="_x"))
    assert [item.relative for item in kept] == [Path("a.png"), Path("restored/a.png"),
                                                Path("restored/compare/a.png")]


def test_a_face_less_jpeg_is_written_as_a_byte_copy(tmp_path):
    photo = _camera_jpeg(tmp_path / "in" / "street.jpg")
    reports = restore_files(_items(photo), _pipeline(_NoFace()), OutputOptions(output_dir=tmp_path / "out"))
    assert reports[0].status == "no-face"
    assert (tmp_path / "out" / "street.jpg").read_bytes() == photo.read_bytes()


def test_a_restored_jpeg_keeps_exif_icc_and_quality(tmp_path):
    photo = _camera_jpeg(tmp_path / "in" / "portrait.jpg", quality=80)
    reports = restore_files(_items(photo), _pipeline(), OutputOptions(output_dir=tmp_path / "out"))
    assert reports[0].status == "restored"
    with Image.open(tmp_path / "out" / "portrait.jpg") as out, Image.open(photo) as source:
        assert out.getexif()[0x010F] == "FacefixCam"
        assert out.getexif().get(0x0112, 1) == 1  # pixels are upright now: not turned twice
        assert out.size == (64, 96)
        assert out.info.get("icc_profile") == source.info["icc_profile"]
        assert media.jpeg_quality(out) == media.jpeg_quality(source) == 80


def test_inpainting_with_an_empty_mask_writes_the_input_unchanged(tmp_path):
    photo = _camera_jpeg(tmp_path / "photo.jpg")
    picture = read_image(photo)
    filled = np.zeros_like(picture.bgr, np.float32)  # whatever a model would paint
    result = media.Picture(composite(picture.bgr, filled, np.zeros(picture.bgr.shape[:2], np.uint8)),
                           picture.alpha, picture.grayscale, picture.format)
    written = write_image(tmp_path / "out" / "photo.jpg", result, like=picture)
    assert written.read_bytes() == photo.read_bytes()


# Also: images people have

def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A 1x1 PNG whose header claims ``width`` x ``height`` (a decompression bomb stand-in)."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.write_bytes(bytes(data))
    return path


def test_a_decompression_bomb_is_refused_quickly_and_the_limit_can_be_raised(tmp_path):
    bomb = _png_claiming(tmp_path / "bomb.png", 20000, 20000)
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"20000 x 20000 pixels \(400 MP\) is above the 180 MP limit.*"
                                         "--max-megapixels"):
        read_image(bomb)
    assert time.perf_counter() - started < 1
    media.limit_pixels(500)
    with pytest.raises(InputError, match="corrupt or truncated"):  # past the guard, the (fake) data fails
        read_image(bomb)


def test_max_megapixels_option_reaches_the_reader(tmp_path):
    big = _png(tmp_path / "big.png", size=1500)  # 2.25 MP
    result = _cli(str(big), "--aligned", "-o", str(tmp_path / "out"), "--max-megapixels", "2")
    assert result.exit_code == 1 and "above the 2 MP limit" in result.output


def test_a_camera_jpeg_with_an_mpo_preview_is_read_as_its_main_frame(tmp_path):
    main, preview = Image.new("RGB", (64, 48), "red"), Image.new("RGB", (16, 12), "blue")
    main.save(tmp_path / "camera.jpg", "MPO", save_all=True, append_images=[preview])
    with Image.open(tmp_path / "camera.jpg") as check:
        assert check.format == "MPO" and check.n_frames == 2
    picture = read_image(tmp_path / "camera.jpg")
    assert picture.size == (64, 48) and picture.bgr[..., 2].mean() > 200


def test_a_float_tiff_is_scaled_to_sixteen_bit_and_hdr_is_refused(tmp_path):
    ramp = np.linspace(0, 1, 32 * 32 * 3, dtype=np.float32).reshape(32, 32, 3)
    cv2.imwrite(str(tmp_path / "linear.tif"), ramp)
    picture = read_image(tmp_path / "linear.tif")
    assert picture.bgr.dtype == np.uint16 and picture.bgr.max() == 65535 and picture.bgr.mean() > 30000
    cv2.imwrite(str(tmp_path / "hdr.tif"), ramp * 8)
    with pytest.raises(InputError, match="outside 0..1"):
        read_image(tmp_path / "hdr.tif")


def test_a_read_only_output_folder_is_reported_as_permission_denied(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.os, "link", refuse)  # as root, chmod cannot make a folder read-only
    reports = restore_files(_items(_png(tmp_path / "a.png")), _pipeline(), OutputOptions(output_dir=tmp_path / "o"))
    assert reports[0].status == "failed" and "permission denied" in reports[0].error
    assert "image format" not in reports[0].error


def test_inpaint_command_with_an_all_zero_mask_copies_a_whole_jpeg(tmp_path):
    from conftest import shared_path
    from helpers.ddpm import write_tiny_ddpm

    photo = shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", "00.jpg")
    detector = shared_path("data", "weights", "detection_mobilenet0.25_Final.pth")
    weights = write_tiny_ddpm(tmp_path / "tiny_ddpm.safetensors")
    cv2.imwrite(str(tmp_path / "empty_mask.png"), np.zeros((8, 8), np.uint8))
    result = cli.invoke(app, ["inpaint", str(photo), "--mask", str(tmp_path / "empty_mask.png"), "--weights",
                              str(weights), "-o", str(tmp_path / "out"), "--steps", "2", "--device", "cpu",
                              "--detector", "retinaface_mobile0.25", "--detector-weights", str(detector)],
                        env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "00.jpg").read_bytes() == photo.read_bytes()
