"""`facefix restore` as a user runs it: real photos, bad inputs, interrupted runs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, shared_path
from PIL import Image
from typer.testing import CliRunner

from facefix import backends
from facefix.cli import app

runner = CliRunner()
TEST_BACKEND = "restorers:BrightenRestorer"


@pytest.fixture(autouse=True)
def _test_backend(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "fusion", backends.Backend(restorer=TEST_BACKEND))


def _detector_args() -> list[str]:
    weights = shared_path("data", "weights", "detection_mobilenet0.25_Final.pth")
    return ["--detector", "retinaface_mobile0.25", "--detector-weights", str(weights)]


def _restore(*args: str):
    return runner.invoke(app, ["restore", *args, *_detector_args()], env={"COLUMNS": "200"})


def test_real_photos_keep_size_mode_and_alpha(tmp_path):
    sources = [shared_path("data", "real", "GPEN", "examples", "imgs", "Solvay_conference_1927.png"),
               shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", "00.jpg"),
               shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", "06.png")]
    result = _restore(*map(str, sources), "-o", str(tmp_path / "out"), "--upscale", "2",
                      "--report", str(tmp_path / "report.json"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert [len(f["faces"]) for f in report["files"]][0] == 29
    for source in sources:
        before, after = Image.open(source), Image.open(tmp_path / "out" / source.name)
        assert after.size == (before.size[0] * 2, before.size[1] * 2)
        assert after.mode == before.mode


def test_sixteen_bit_png_and_grayscale_are_kept(tmp_path):
    image = cv2.imread(str(shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", "00.jpg")))
    cv2.imwrite(str(tmp_path / "deep.png"), image.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "gray.jpg"), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    result = _restore(str(tmp_path / "deep.png"), str(tmp_path / "gray.jpg"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    deep = cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == image.shape
    assert Image.open(tmp_path / "out" / "gray.jpg").mode == "L"


def _bad_corpus(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    corpus = {
        "empty": folder / "empty.png",
        "text": folder / "text.jpg",
        "truncated": folder / "truncated.jpg",
        "tiny": folder / "tiny.png",
        "animated": folder / "animated.gif",
        "directory": folder / "folder.jpg",
    }
    corpus["empty"].write_bytes(b"")
    corpus["text"].write_text("this is not a picture\n")
    ok, jpeg = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))
    corpus["truncated"].write_bytes(jpeg.tobytes()[:200])
    cv2.imwrite(str(corpus["tiny"]), np.zeros((1, 1, 3), np.uint8))
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    frames[0].save(corpus["animated"], save_all=True, append_images=frames[1:])
    corpus["directory"].mkdir()
    return corpus


def test_bad_inputs_get_one_line_errors_and_no_partial_outputs(tmp_path):
    corpus = _bad_corpus(tmp_path / "bad")
    out = tmp_path / "out"
    result = _restore(*map(str, corpus.values()), "-o", str(out))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    for name in ("empty.png", "text.jpg", "truncated.jpg", "animated.gif", "folder.jpg"):
        assert sum(name in line for line in errors) == 1, (name, result.output)
    written = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert written == ["tiny.png"]  # a 1x1 image has no face: written unchanged
    assert not list(out.rglob("*partial*"))


def test_missing_input_and_unwritable_output(tmp_path):
    result = _restore(str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1 and "nope.jpg: no such file or folder" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("x")
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    result = _restore(str(image), "-o", str(blocker / "out"))
    assert result.exit_code == 1 and "cannot create the output folder" in result.output
    assert "Traceback" not in result.output


def test_never_overwrites_inputs_or_existing_outputs(tmp_path):
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.full((32, 32, 3), 50, np.uint8))
    result = _restore(str(image), "-o", str(tmp_path))
    assert result.exit_code == 1 and "would overwrite an input" in result.output
    assert cv2.imread(str(image)).mean() == 50
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"keep me")
    result = _restore(str(image), "-o", str(out))
    assert result.exit_code == 0 and (out / "a.png").read_bytes() == b"keep me"


def test_recursive_folder_keeps_the_tree(tmp_path):
    source = tmp_path / "in"
    (source / "sub" / "deeper").mkdir(parents=True)
    for rel in ("top.png", "sub/mid.jpg", "sub/deeper/low.png"):
        cv2.imwrite(str(source / rel), np.full((40, 40, 3), 90, np.uint8))
    result = _restore(str(source), "-o", str(tmp_path / "out"), "--recursive", "--suffix", "_fixed")
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.*"))
    assert written == ["sub/deeper/low_fixed.png", "sub/mid_fixed.jpg", "top_fixed.png"]


def _run_cli(args: list[str], **kwargs) -> subprocess.Popen:
    code = ("import sys; sys.path.insert(0, 'tests'); import facefix.backends as b; "
            f"b.BACKENDS['fusion'] = b.Backend(restorer={TEST_BACKEND!r}); from facefix.cli import main; "
            "sys.argv = ['facefix'] + sys.argv[1:]; main()")
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, **kwargs)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_kill_minus_nine_then_rerun_completes_identically(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    photo = cv2.imread(str(shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", "00.jpg")))
    for i in range(12):
        cv2.imwrite(str(source / f"{i:02d}.png"), np.roll(photo, i * 7, axis=1))
    args = ["restore", str(source), *_detector_args(), "--batch-size", "1"]

    reference = _run_cli([*args, "-o", str(tmp_path / "ref")])
    assert reference.wait(timeout=300) == 0, reference.stderr.read()

    interrupted = _run_cli([*args, "-o", str(tmp_path / "out")])
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path / "out").glob("*.png"))) < 3:
        time.sleep(0.05)
    os.kill(interrupted.pid, signal.SIGKILL)
    interrupted.wait()
    assert len(list((tmp_path / "out").glob("[0-9]*.png"))) < 12

    rerun = _run_cli([*args, "-o", str(tmp_path / "out")])
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read()
    for leftover in (tmp_path / "out").glob(".*partial*"):
        leftover.unlink()  # a temp file of the killed writer, never under a final name
    assert _digests(tmp_path / "out") == _digests(tmp_path / "ref")


def test_huge_image_and_broken_link_are_handled(tmp_path):
    huge = tmp_path / "huge.png"
    cv2.imwrite(str(huge), np.full((12000, 12000, 3), 60, np.uint8))
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    result = _restore(str(huge), str(tmp_path / "dangling.jpg"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "dangling.jpg: no such file" in result.output
    assert Image.open(tmp_path / "out" / "huge.png").size == (12000, 12000)


def test_options_a_backend_ignores_are_named_in_a_warning(tmp_path):
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), np.full((64, 64, 3), 100, np.uint8))
    result = runner.invoke(app, ["restore", str(face), "--aligned", "-o", str(tmp_path / "out"), "--steps", "5",
                                 "--variant", "1step", "--fidelity", "0.5"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for flag in ("--steps", "--variant", "--fidelity"):
        assert f"{flag} has no effect on the fusion backend" in result.output


@pytest.mark.parametrize("flag", [[], ["--precision", "fp32"]])
def test_the_chosen_precision_is_printed_once_and_stored_in_the_report(tmp_path, flag):
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), np.full((64, 64, 3), 100, np.uint8))
    result = runner.invoke(app, ["restore", str(face), "--aligned", "-o", str(tmp_path / "out"), "--device", "cpu",
                                 "--report", str(tmp_path / "report.json"), *flag], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count("precision: ") == 1
    stored = json.loads((tmp_path / "report.json").read_text())["settings"]["precision"]
    assert stored["requested"] == ("fp32" if flag else "auto")
    assert stored["precision"] in ("fp32", "bf16")
    if not flag:  # the CPU probe ran (the test restorer ignores its dtype, so either answer is right)
        assert stored["probe"]["fp32_seconds"] > 0 and stored["probe"]["cached"] is False
