"""Detectors: RetinaFace reproduces facexlib's golden; real photos give the expected faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_path

from facefix.errors import FacefixError
from facefix.face.detect import DlibDetector, RetinaFaceDetector, load_detector


def test_retinaface_mobile_reproduces_the_golden_detections():
    golden = torch.load(shared_path("reference", "retinaface_mobile0.25.golden.pt"), weights_only=True)
    detector = RetinaFaceDetector(golden["state_dict"], network=golden["network_name"], device=torch.device("cpu"))
    expected = golden["detect_faces_image0"]
    with torch.inference_mode():
        rows = detector.model.detect_faces(golden["image_bgr_uint8"][0].numpy(),
                                           conf_threshold=expected["conf_threshold"],
                                           nms_threshold=expected["nms_threshold"])
    np.testing.assert_allclose(rows, expected["result"].numpy(), atol=1e-4)


def test_mismatched_weights_are_a_clear_error():
    with pytest.raises(FacefixError, match="checkpoint does not match"):
        RetinaFaceDetector({"nope": torch.zeros(1)}, network="mobile0.25", device=torch.device("cpu"))


@pytest.fixture(scope="module")
def mobile_detector():
    weights = shared_path("data", "weights", "detection_mobilenet0.25_Final.pth")
    return load_detector("retinaface_mobile0.25", weights=weights)


def test_solvay_group_photo_has_29_faces(mobile_detector):
    image = cv2.imread(str(shared_path("data", "real", "GPEN", "examples", "imgs", "Solvay_conference_1927.png")))
    faces = mobile_detector.detect(image)
    assert len(faces) == 29
    assert all(f.landmarks[0, 0] < f.landmarks[1, 0] for f in faces)  # left eye is on the image left


def test_dlib_detector_finds_an_aligned_face_with_eyes_in_template_order():
    pytest.importorskip("dlib")
    image = cv2.imread(str(shared_path("data", "real", "GFPGAN", "inputs", "cropped_faces", "Adele_crop.png")))
    faces = DlibDetector().detect(image)
    assert len(faces) == 1
    left_eye, right_eye, nose = faces[0].landmarks[:3]
    # On an FFHQ-aligned crop the eyes sit near the template's (193, 240) and (319, 240).
    assert abs(left_eye[0] - 193) < 20 and abs(right_eye[0] - 319) < 20
    assert abs(left_eye[1] - 240) < 20 and nose[1] > left_eye[1]
    assert np.isnan(faces[0].landmarks[3:]).all()
