"""--align: the pipeline's detector and crop, cached on disk; photos without a face are left out."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_path

from facefix.face.align import align_face, ffhq_template
from facefix.face.detect import DetectedFace
from facefix.train.alignment import align_photos, aligned_cache_dir

SIZE = 32


class FakeDetector:
    """Finds a 'face' at a fixed place in photos whose name starts with 'face', nothing elsewhere."""

    landmarks = ffhq_template(96) + np.float32([20, 10])

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        if image.mean() < 1:  # the black photo has no face
            return []
        return [DetectedFace(box=np.float32([20, 10, 116, 106]), landmarks=self.landmarks, score=0.99)]


@pytest.fixture
def photos(tmp_path, rng):
    folder = tmp_path / "photos"
    folder.mkdir()
    paths = []
    for name in ("face1.jpg", "face2.png"):
        cv2.imwrite(str(folder / name), rng.integers(0, 255, (140, 160, 3), dtype=np.uint8))
        paths.append(folder / name)
    cv2.imwrite(str(folder / "empty.png"), np.zeros((50, 50, 3), np.uint8))
    return [*paths, folder / "empty.png"]


def test_photos_are_aligned_once_and_cached(photos, tmp_path):
    detector = FakeDetector()
    cache = tmp_path / "cache"
    crops, faceless = align_photos(photos, make_detector=lambda: detector, size=SIZE, cache=cache)
    assert faceless == [photos[2]] and len(crops) == 2 and detector.calls == 3
    expected, _ = align_face(cv2.imread(str(photos[0])), FakeDetector.landmarks, SIZE)
    assert np.array_equal(cv2.imread(str(crops[0])), expected)

    def no_detector():
        raise AssertionError("everything is cached: no detector needed")

    assert align_photos(photos, make_detector=no_detector, size=SIZE, cache=cache) == (crops, faceless)


def test_a_changed_photo_is_aligned_again(photos, tmp_path):
    detector = FakeDetector()
    cache = tmp_path / "cache"
    first, _ = align_photos(photos[:1], make_detector=lambda: detector, size=SIZE, cache=cache)
    cv2.imwrite(str(photos[0]), np.full((120, 150, 3), 200, np.uint8))
    second, _ = align_photos(photos[:1], make_detector=lambda: detector, size=SIZE, cache=cache)
    assert detector.calls == 2 and first != second and cv2.imread(str(second[0])).mean() > 150


def test_unreadable_photo_is_a_one_line_error(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(Exception, match=r"broken.jpg: cannot read this image"):
        align_photos([broken], make_detector=FakeDetector, size=SIZE, cache=tmp_path / "cache")


def test_cache_is_per_detector_and_size():
    assert aligned_cache_dir("dlib", 64) != aligned_cache_dir("dlib", 128) != aligned_cache_dir("x", 64)


def test_real_photos_aligned_with_dlib_are_framed_like_ffhq(tmp_path):
    pytest.importorskip("dlib")
    from facefix.face.detect import load_detector

    photos = sorted(shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs").glob("0[0-3].*"))
    ffhq = sorted(shared_path("data", "real", "GPEN", "examples", "ffhq-10").glob("*.png"))
    detector = load_detector("dlib")
    crops, faceless = align_photos(photos, make_detector=lambda: detector, size=256, cache=tmp_path / "cache")
    assert len(crops) == len(photos) and not faceless

    def box(image):  # the detector's face box, as fractions of the crop
        found = detector.detect(image)
        assert found
        return found[0].box / 256

    # dlib's boxes snap to its pyramid scales (steps of ~0.08): compare with the spread over FFHQ's own faces
    reference = np.stack([box(cv2.resize(cv2.imread(str(p)), (256, 256), interpolation=cv2.INTER_AREA))
                          for p in ffhq])
    low, high = reference.min(axis=0) - 0.08, reference.max(axis=0) + 0.08
    for crop in crops:
        assert np.all((low <= box(cv2.imread(str(crop)))) & (box(cv2.imread(str(crop))) <= high)), crop
