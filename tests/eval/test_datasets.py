"""Evaluation sets: folders, a direct archive through the hub, and manual steps for Drive-only sets."""

from __future__ import annotations

import tarfile

import cv2
import numpy as np
import pytest

from facefix.errors import FacefixError
from facefix.eval import datasets


def test_a_folder_is_used_as_it_is(tmp_path):
    assert datasets.resolve_dataset(str(tmp_path)) == tmp_path


def test_drive_only_set_explains_the_manual_steps():
    with pytest.raises(FacefixError, match="Google Drive only; download it from .* unpack the images into"):
        datasets.resolve_dataset("celeba-test")


def test_unknown_name_is_a_clear_error():
    with pytest.raises(FacefixError, match="no such folder and no known set"):
        datasets.resolve_dataset("nope")


def test_lfw_archive_is_fetched_through_the_hub_and_unpacked(mirror):
    served, _ = mirror
    (served / "lfw" / "Someone").mkdir(parents=True)
    cv2.imwrite(str(served / "lfw" / "Someone" / "Someone_0001.jpg"), np.zeros((8, 8, 3), np.uint8))
    with tarfile.open(served / "lfw.tgz", "w:gz") as tar:
        tar.add(served / "lfw", arcname="lfw")
    folder = datasets.resolve_dataset("lfw")
    assert (folder / "lfw" / "Someone" / "Someone_0001.jpg").exists()
    assert datasets.resolve_dataset("lfw") == folder  # cached: no second download
