"""Alignment and paste-back match facexlib's FaceRestoreHelper (golden from the upstream code)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from facefix.face import align_face, inverse_affine, paste_face


@pytest.fixture(scope="module")
def golden():
    from conftest import shared_path

    return torch.load(shared_path("reference", "facexlib_facehelper_paste.golden.pt"), weights_only=True)


def _background(golden) -> np.ndarray:
    image = golden["input_bgr_uint8"].numpy()
    height, width = image.shape[:2]
    up = golden["upscale_factor"]
    return cv2.resize(image, (width * up, height * up), interpolation=cv2.INTER_LANCZOS4).astype(np.float32)


def test_affine_and_crop_match_facexlib(golden):
    crop, affine = align_face(golden["input_bgr_uint8"].numpy(), golden["landmarks_5"].numpy(), golden["face_size"])
    np.testing.assert_allclose(affine, golden["affine_cv2_lmeds"].numpy(), atol=1e-6)
    assert np.array_equal(crop, golden["cropped_face_bgr_uint8"].numpy())
    np.testing.assert_allclose(inverse_affine(affine, golden["upscale_factor"]), golden["inverse_affine_used"].numpy(),
                               atol=1e-6)


def test_feathered_paste_within_one_grey_level(golden):
    _, affine = align_face(golden["input_bgr_uint8"].numpy(), golden["landmarks_5"].numpy(), golden["face_size"])
    canvas = _background(golden)
    restored = golden["restored_face_bgr_uint8"].numpy().astype(np.float32)
    paste_face(canvas, restored, affine, golden["upscale_factor"])
    diff = np.abs(canvas.astype(np.uint8).astype(int) - golden["paste_no_parse_bgr_uint8"].numpy().astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.2


def test_parsing_mask_paste_within_one_grey_level(golden):
    _, affine = align_face(golden["input_bgr_uint8"].numpy(), golden["landmarks_5"].numpy(), golden["face_size"])
    labels = golden["parse_labels_uint8"].numpy()
    from facefix.face.parse import mask_from_labels

    canvas = _background(golden)
    restored = golden["restored_face_bgr_uint8"].numpy().astype(np.float32)
    paste_face(canvas, restored, affine, golden["upscale_factor"], blend_mask=mask_from_labels(labels))
    diff = np.abs(canvas.astype(np.uint8).astype(int) - golden["paste_parse_bgr_uint8"].numpy().astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.2


def test_face_outside_the_image_changes_nothing():
    canvas = np.full((50, 60, 3), 7.0, np.float32)
    affine = np.array([[1.0, 0.0, 500.0], [0.0, 1.0, 500.0]])  # the image sits far outside the crop
    paste_face(canvas, np.zeros((32, 32, 3), np.float32), affine, 1)
    assert (canvas == 7.0).all()


def test_parser_mask_from_a_random_parsenet_covers_the_face_region():
    from facefix.face.parse import PARSE_SIZE, FaceParser
    from facexlib.parsing.parsenet import ParseNet

    torch.manual_seed(0)
    state = ParseNet(in_size=PARSE_SIZE, out_size=PARSE_SIZE, parsing_ch=19).state_dict()
    parser = FaceParser(state, torch.device("cpu"))
    mask = parser.blend_mask(np.full((64, 64, 3), 128, np.float32), 255)
    assert mask.shape == (64, 64) and mask.min() >= 0 and mask.max() <= 1
    assert (mask[:1] == 0).all()  # the border is always cleared
