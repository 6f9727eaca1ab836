"""`facefix eval` end to end on CPU: a small GFPGAN-format network on LFW, and a test restorer, a test
detector and a tiny random DDPM for the file outputs, whole photos and inpainting."""

from __future__ import annotations

import csv
import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_path
from helpers.ddpm import write_tiny_ddpm
from typer.testing import CliRunner

from facefix import backends
from facefix.cli import app
from facefix.quality import metrics
from facefix.eval.inpaint import make_mask
from facefix.face.align import ffhq_template
from facefix.face.detect import DetectedFace
from facefix.face.masks import center_mask

runner = CliRunner()


def _eval(*args):
    return runner.invoke(app, ["eval", *map(str, args), "--device", "cpu"], env={"COLUMNS": "220"})


def _faces(folder, count=4, size=64, shape=None):
    """Smooth colour images (NIQE and SSIM need structure, not noise), distinct per index."""
    folder.mkdir(parents=True, exist_ok=True)
    height, width = shape or (size, size)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    for i in range(count):
        image = np.stack([np.sin(6 * x + i), np.cos(5 * y - i), np.sin(4 * (x + y) + 2 * i)], -1)
        cv2.imwrite(str(folder / f"face{i}.png"), ((image + 1) * 120 + 5).astype(np.uint8))
    return folder


@pytest.fixture
def brighten(monkeypatch):
    """``fusion`` replaced by a restorer that brightens 64-px faces (instant, no weights)."""
    row = dataclasses.replace(backends.BACKENDS["fusion"], restorer="restorers:BrightenRestorer")  # papers kept
    monkeypatch.setitem(backends.BACKENDS, "fusion", row)


class _PixelIdentity:
    """Stands in for ArcFace (whose 43 M weights take long to build): the mean pixel difference of the
    two crops it is given, so the test sees which crops the evaluator compares."""

    def __init__(self, device, pretrained=True):
        pass

    def __call__(self, image, reference):
        return float(np.abs(image.astype(int) - reference).mean())


@pytest.fixture
def pixel_identity(monkeypatch):
    monkeypatch.setattr(metrics, "IdentityMetric", _PixelIdentity)


def test_eval_on_lfw_with_synthesized_pairs(tmp_path):
    lfw = shared_path("data", "faces", "lfw")
    golden = torch.load(shared_path("reference", "gfpgan_clean_small.golden.pt"), weights_only=True)
    torch.save({"params_ema": golden["state_dict"]}, tmp_path / "tiny.pth")
    result = _eval("--dataset", lfw, "--synthesize", "--backend", "fusion", "--weights", tmp_path / "tiny.pth",
                   "--precision", "fp32", "--limit", "20", "--scores", tmp_path / "scores.json", "--output",
                   tmp_path / "out")
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert len(scores["images"]) == 20
    if golden["config"]["out_size"] < 96:  # NIQE needs 96-px blocks: smaller faces have none
        assert set(scores["mean"]) == {"psnr", "ssim"}
        assert "NIQE needs images of at least 2 x 96 px: 0 of 20 scored" in result.output  # noted: a default
        assert all(img["niqe"] is None for img in scores["images"].values())
    else:
        assert set(scores["mean"]) == {"psnr", "ssim", "niqe"}
    assert 0 < scores["mean"]["ssim"] < 1 and scores["mean"]["psnr"] > 0
    assert len(list((tmp_path / "out").rglob("*.png"))) == 20


def test_reference_metrics_without_ground_truth_are_refused(tmp_path, brighten):
    result = _eval("--dataset", _faces(tmp_path / "faces"), "--metrics", "psnr")
    assert result.exit_code == 1 and "need ground truth" in result.output and "Traceback" not in result.output


def test_csv_and_json_hold_the_same_scores_and_the_sheet_ranks_them(tmp_path, brighten):
    faces = _faces(tmp_path / "faces", count=5)
    result = _eval("--dataset", faces, "--synthesize", "--metrics", "psnr,ssim", "--scores", tmp_path / "s.csv",
                   "--scores", tmp_path / "s.json", "--sheet", tmp_path / "sheet.png", "--sheet-count", "2")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    scores = json.loads((tmp_path / "s.json").read_text())
    assert [r["image"] for r in rows] == [*sorted(scores["images"]), "mean"]
    for row in rows[:-1]:
        assert float(row["psnr"]) == pytest.approx(scores["images"][row["image"]]["psnr"], abs=1e-9)
    assert float(rows[-1]["ssim"]) == pytest.approx(np.mean([v["ssim"] for v in scores["images"].values()]))
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    # 2 worst + 2 best rows of three 192-px tiles (input | output | ground truth), plus labels
    assert sheet.shape[0] > 4 * 192 and sheet.shape[1] >= 3 * 192


def test_existing_outputs_are_refused_before_any_work(tmp_path, brighten):
    faces = _faces(tmp_path / "faces")
    (tmp_path / "s.json").write_text("mine")
    result = _eval("--dataset", faces, "--synthesize", "--scores", tmp_path / "s.json")
    assert result.exit_code == 1 and "already exists" in result.output and "s.json" in result.output
    assert (tmp_path / "s.json").read_text() == "mine"
    bad = _eval("--dataset", faces, "--synthesize", "--scores", tmp_path / "s.txt")
    assert bad.exit_code == 1 and "takes .json or .csv" in bad.output


def test_old_option_names_still_work_for_one_release(tmp_path, brighten):
    faces = _faces(tmp_path / "faces")
    (tmp_path / "s.json").write_text("mine")
    # --output FILE.json was the score file: still read as --scores (refused here, as it exists)
    old_scores = _eval("--dataset", faces, "--synthesize", "--output", tmp_path / "s.json")
    assert old_scores.exit_code == 1 and "already exists" in old_scores.output and "--scores" in old_scores.output
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "face0.png").write_text("mine")
    old_results = _eval("--dataset", faces, "--synthesize", "--results", tmp_path / "out")
    assert old_results.exit_code == 1 and "--results is now --output" in old_results.output
    assert "face0.png" in old_results.output and "already exists" in old_results.output
    help_text = runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "220"}).output
    assert "--scores" in help_text and "--results" not in help_text and "--masks" not in help_text


def test_paper_numbers_are_shown_beside_ours(tmp_path, brighten):
    faces = _faces(tmp_path / "faces", size=192)
    result = _eval("--dataset", faces, "--paper-set", "lfw-test", "--metrics", "niqe",
                   "--scores", tmp_path / "s.json")
    # the table and the file are written; NIQE itself scores nothing on the 64-px faces of this restorer
    assert result.exit_code == 1 and "NIQE needs images of at least 2 x 96 px: 0 of 4 scored" in result.output
    assert "3.754" in result.output and "seed 000" in result.output  # fusion paper, Table 1, LFW-Test NIQE
    paper = json.loads((tmp_path / "s.json").read_text())["paper"]
    assert {"method": "fusion (paper)", "source": "seed 000 (fusion) Table 1", "metric": "niqe",
            "value": 3.754} in paper
    unknown = _eval("--dataset", faces, "--paper-set", "ffhq", "--metrics", "niqe")
    assert unknown.exit_code == 1 and "the papers report on" in unknown.output


class _ColourFeatures:
    """Stands in for Inception (slow to build on a CPU): per-image colour statistics as features, the
    same on every run, so the test sees which images the evaluator compares and what it caches."""

    tag = "colour-test-features"

    def __init__(self, device, pretrained=True):
        pass

    def __call__(self, images):
        return np.stack([np.concatenate([i.mean(axis=(0, 1)), i.std(axis=(0, 1))]) for i in images])


@pytest.fixture
def colour_features(monkeypatch):
    monkeypatch.setattr(metrics, "InceptionFeatures", _ColourFeatures)


def test_fid_against_a_reference_folder_is_cached(tmp_path, brighten, colour_features, _isolated_cache):
    faces, reference = _faces(tmp_path / "faces", count=3), _faces(tmp_path / "ref", count=3, size=48)
    refused = _eval("--dataset", faces, "--metrics", "fid")
    assert refused.exit_code == 1 and "--fid-ref DIR" in refused.output
    for run in ("a", "b"):
        result = _eval("--dataset", faces, "--metrics", "fid", "--fid-ref", reference,
                       "--scores", tmp_path / f"{run}.json")
        assert result.exit_code == 0, result.output
    first, second = (json.loads((tmp_path / f"{r}.json").read_text()) for r in "ab")
    assert first["mean"]["fid"] == second["mean"]["fid"] > 0
    assert str(reference) in first["fid_reference"]
    assert len(list((_isolated_cache / "fid-stats").glob("*.npz"))) == 1  # the second run read the cache


def test_a_cached_published_set_gets_its_paper_numbers_by_name(tmp_path, brighten):
    from facefix.eval.datasets import dataset_dir

    _faces(dataset_dir("webphoto-test"), size=192)  # as if unpacked by hand where the error message said
    result = _eval("--dataset", "webphoto-test", "--metrics", "niqe")
    assert result.exit_code == 1 and "0 of 4 scored" in result.output  # 64-px faces: no NIQE, papers' numbers
    assert "4.019" in result.output and "87.47" in result.output  # seed 000 (fusion) and seed 004 (GFPGAN row)


class _CentreFaceDetector:
    """One face on the FFHQ template, centred in the photo (a stand-in for RetinaFace)."""

    def detect(self, image):
        height, width = image.shape[:2]
        side = min(height, width) * 0.8
        landmarks = ffhq_template(side) + np.array([(width - side) / 2, (height - side) / 2], np.float32)
        return [DetectedFace(np.array([0, 0, width, height], np.float32), landmarks, 0.99)]


def test_whole_photos_are_detected_restored_and_scored_as_whole_images(tmp_path, brighten, monkeypatch,
                                                                      pixel_identity):
    from facefix.face import detect

    monkeypatch.setattr(detect, "load_detector", lambda *a, **k: _CentreFaceDetector())
    photos = _faces(tmp_path / "photos", count=2, shape=(200, 240))
    result = _eval("--dataset", photos, "--metrics", "niqe,ids", "--scores", tmp_path / "s.json",
                   "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "taken as whole photos" in result.output and "2 faces found" in result.output
    scores = json.loads((tmp_path / "s.json").read_text())
    for name, values in scores["images"].items():
        assert values["niqe"] is not None  # NIQE of the whole 240x200 picture (a 64-px face has none)
        assert values["ids"] > 20  # restored crop against the input crop: the test restorer brightens faces
        before, after = cv2.imread(str(photos / name)), cv2.imread(str(tmp_path / "out" / name))
        assert after.shape == before.shape
        assert np.array_equal(after[:5, :5], before[:5, :5])  # far from the face: untouched
        assert after[100, 120].mean() > before[100, 120].mean() + 20  # the face got pasted back brighter
    paired = _eval("--dataset", photos, "--synthesize", "--metrics", "psnr,ids", "--scores", tmp_path / "p.json")
    assert paired.exit_code == 0, paired.output
    for values in json.loads((tmp_path / "p.json").read_text())["images"].values():
        assert 0 < values["psnr"] < 40 and values["ids"] > 0  # whole degraded photo, its face against the clean one


def test_real_photos_with_retinaface(tmp_path, brighten):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("03.jpg", "04.jpg"):
        source = shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", name)
        (photos / name).write_bytes(source.read_bytes())
    weights = shared_path("data", "weights", "detection_mobilenet0.25_Final.pth")
    result = _eval("--dataset", photos, "--unaligned", "--metrics", "niqe", "--detector", "retinaface_mobile0.25",
                   "--detector-weights", weights, "--scores", tmp_path / "s.json")
    assert result.exit_code == 0, result.output
    assert "faces found in 2 photos" in result.output and "0 faces found" not in result.output
    scores = json.loads((tmp_path / "s.json").read_text())
    assert all(v["niqe"] > 0 for v in scores["images"].values())
    assert scores["precision"]["requested"] == "auto" and result.output.count("precision: ") == 1


@pytest.fixture(scope="module")
def tiny_ddpm(tmp_path_factory):
    return write_tiny_ddpm(tmp_path_factory.mktemp("weights") / "tiny_ddpm.safetensors")


def _inpaint_eval(faces, weights, *args):
    return _eval("--dataset", faces, "--task", "inpaint", "--weights", weights, "--steps", "1", *args)


def test_inpainting_clean_faces_with_centre_masks(tmp_path, tiny_ddpm):
    faces = _faces(tmp_path / "faces", count=3)
    result = _inpaint_eval(faces, tiny_ddpm, "--mask", "center", "--paper-set", "celeba-hq-test",
                           "--scores", tmp_path / "s.json", "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "24.93" in result.output and "0.882" in result.output  # seed 001 Table 2 (centre mask)
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["task"] == "inpaint" and scores["masks"] == "center" and set(scores["mean"]) == {"psnr", "ssim"}
    hole = center_mask(64, 64).astype(bool)
    for name, values in scores["images"].items():
        clean, filled = cv2.imread(str(faces / name)), cv2.imread(str(tmp_path / "out" / name))
        assert np.array_equal(filled[~hole], clean[~hole])  # known pixels are the input's, exactly
        assert not np.array_equal(filled[hole], clean[hole])
        assert values["psnr"] == pytest.approx(metrics.psnr(filled, clean), abs=1e-9)  # scored on the composite


def test_inpainting_random_masks_are_the_seeded_ones(tmp_path, tiny_ddpm):
    faces = _faces(tmp_path / "faces", count=2)
    result = _inpaint_eval(faces, tiny_ddpm, "--mask", "random", "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    for index, name in enumerate(sorted(p.name for p in faces.iterdir())):
        hole = make_mask("random", index, 64, faces / name).astype(bool)
        clean, filled = cv2.imread(str(faces / name)), cv2.imread(str(tmp_path / "out" / name))
        assert np.array_equal(filled[~hole], clean[~hole])
        assert (filled != clean).any(axis=-1).mean() > 0.1  # most of the 20-30 % hole was repainted


def test_inpainting_pairs_take_the_holes_from_white_pixels(tmp_path, tiny_ddpm):
    clean = _faces(tmp_path / "clean", count=2)
    masked = tmp_path / "masked"
    masked.mkdir()
    hole = center_mask(64, 64).astype(bool)
    for path in clean.iterdir():
        image = cv2.imread(str(path))
        image[hole] = 255
        cv2.imwrite(str(masked / path.name), image)
    result = _inpaint_eval(masked, tiny_ddpm, "--gt", clean, "--mask", "white", "--scores", tmp_path / "s.json",
                           "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "s.json").read_text())["images"]
    for path in clean.iterdir():
        filled = cv2.imread(str(tmp_path / "out" / path.name))
        assert np.array_equal(filled[~hole], cv2.imread(str(path))[~hole])
        assert (filled[hole] != 255).any()  # the white hole was filled
        assert scores[path.name]["psnr"] == pytest.approx(metrics.psnr(filled, cv2.imread(str(path))), abs=1e-9)


def test_inpainting_pairs_need_masks_that_exist(tmp_path, tiny_ddpm):
    faces = _faces(tmp_path / "faces", count=1)
    result = _inpaint_eval(faces, tiny_ddpm, "--mask", "white")
    assert result.exit_code == 1 and "--gt" in result.output
    missing = _inpaint_eval(faces, tiny_ddpm, "--mask", str(tmp_path / "nope"))
    assert missing.exit_code == 1 and "not center, random, white, or a folder" in missing.output
