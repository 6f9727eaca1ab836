"""The whole pipeline on real photos with the real RetinaFace mobile0.25 weight and a test restorer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_path
from restorers import BrightenRestorer

from facefix.face.detect import load_detector
from facefix.media import read_image
from facefix.pipeline import FaceRestorePipeline


@pytest.fixture(scope="module")
def detector():
    return load_detector("retinaface_mobile0.25",
                         weights=shared_path("data", "weights", "detection_mobilenet0.25_Final.pth"))


@pytest.fixture
def restorer():
    return BrightenRestorer.load(device="cpu")


def test_solvay_all_faces_restored_and_pasted(detector, restorer):
    picture = read_image(shared_path("data", "real", "GPEN", "examples", "imgs", "Solvay_conference_1927.png"))
    (result,) = FaceRestorePipeline(restorer, detector, upscale=2).restore([picture])
    assert len(result.faces) == 29 and len(result.restored) == 29
    out = result.picture
    assert out.bgr.shape == (picture.bgr.shape[0] * 2, picture.bgr.shape[1] * 2, 3)
    assert out.alpha is not None and out.alpha.shape == out.bgr.shape[:2]
    # Faces got brighter, the corners (no face there) did not change beyond resampling.
    for face in result.faces[:5]:
        x0, y0, x1, y1 = (face.box * 2).astype(int)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        before = cv2.resize(picture.bgr, (out.bgr.shape[1], out.bgr.shape[0]))[cy - 3:cy + 3, cx - 3:cx + 3]
        assert out.bgr[cy - 3:cy + 3, cx - 3:cx + 3].mean() > before.mean() + 20


def test_sixteen_bit_picture_stays_sixteen_bit(detector, restorer, tmp_path):
    image = cv2.imread(str(shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", "00.jpg")))
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), image.astype(np.uint16) * 257)
    picture = read_image(path)
    assert picture.bgr.dtype == np.uint16
    (result,) = FaceRestorePipeline(restorer, detector).restore([picture])
    assert result.faces and result.picture.bgr.dtype == np.uint16
    assert result.picture.bgr.max() > 255


def test_no_face_picture_is_returned_unchanged(detector, restorer):
    from facefix.media import Picture

    blank = Picture(np.full((120, 160, 3), 90, np.uint8), None, False, "PNG")
    (result,) = FaceRestorePipeline(restorer, detector).restore([blank])
    assert result.faces == [] and np.array_equal(result.picture.bgr, blank.bgr)


def test_aligned_crops_are_resized_to_the_face_size(restorer):
    from facefix.media import Picture

    crop = Picture(np.full((100, 100, 3), 100, np.uint8), None, False, "PNG")
    (result,) = FaceRestorePipeline(restorer, None).restore_aligned([crop])
    assert result.picture.bgr.shape == (64, 64, 3)
    assert abs(int(result.picture.bgr.mean()) - round((100 / 255 * 0.5 + 0.5) * 255)) <= 1


def test_restorer_sees_rgb_in_unit_range(restorer):
    from facefix.pipeline import from_tensor, to_tensor

    crop = np.zeros((64, 64, 3), np.uint8)
    crop[..., 2] = 255  # red in BGR
    tensor = to_tensor([crop], 255, torch.device("cpu"))
    assert tensor[0, 0].min() == 1.0 and tensor[0, 2].max() == 0.0
    assert np.allclose(from_tensor(tensor, 255)[0], crop)
