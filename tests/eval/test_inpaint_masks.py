"""Inpainting evaluation masks: seeded per image, of the paper's sizes, and never lost when shrunk."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facefix.errors import FacefixError
from facefix.eval.inpaint import check_mask_spec, make_mask


def test_random_masks_are_a_pure_function_of_the_index(tmp_path):
    first = [make_mask("random", i, 128, tmp_path / "x.png") for i in range(3)]
    again = [make_mask("random", i, 128, tmp_path / "x.png") for i in range(3)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])
    assert all(0.2 <= m.mean() <= 0.3 for m in first)
    assert make_mask("center", 0, 128, tmp_path / "x.png").mean() == 0.25


def test_mask_files_keep_every_hole_pixel_at_the_model_size(tmp_path):
    cv2.imwrite(str(tmp_path / "face.png"), np.zeros((256, 256, 3), np.uint8))
    (tmp_path / "masks").mkdir()
    hole = np.zeros((256, 256), np.uint8)
    hole[100, 101] = 255  # a one-pixel hole must survive the 4x reduction
    cv2.imwrite(str(tmp_path / "masks" / "face.png"), hole)
    small = make_mask(str(tmp_path / "masks"), 0, 64, tmp_path / "face.png")
    assert small.shape == (64, 64) and small.sum() == 1 and small[25, 25] == 1
    with pytest.raises(FacefixError, match="no mask named other"):
        make_mask(str(tmp_path / "masks"), 0, 64, tmp_path / "other.png")
    with pytest.raises(FacefixError, match="--gt"):
        check_mask_spec("white", has_gt=False)
