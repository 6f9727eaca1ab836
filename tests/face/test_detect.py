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


def _random_retinaface_file(tmp_path, network: str):
    import warnings

    from facexlib.detection.retinaface import RetinaFace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RetinaFace(network_name=network, half=False, device=torch.device("cpu"))
    path = tmp_path / f"{network}.pth"
    torch.save(model.state_dict(), path)
    return path


def test_detector_weights_pick_their_backbone_from_their_keys(tmp_path, recwarn):
    path = _random_retinaface_file(tmp_path, "mobile0.25")
    detector = load_detector("retinaface_resnet50", weights=path)  # the default --detector, a mobilenet file
    assert "body.stage1.0.0.weight" in detector.model.state_dict()
    assert detector.detect(np.zeros((64, 64, 3), np.uint8)) is not None
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]  # torchvision's notes are kept quiet


def test_weights_of_no_retinaface_backbone_are_named_as_such(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(FacefixError, match="other.pth: not a RetinaFace weight file.*--detector dlib"):
        load_detector("retinaface_resnet50", weights=path)
