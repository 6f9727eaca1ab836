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


class _SmallMemoryRestorer(BrightenRestorer):
    """Runs out of device memory for batches larger than ``limit`` faces, like a small GPU."""

    limit = 2

    def restore(self, faces: torch.Tensor) -> torch.Tensor:
        self.batches = [*getattr(self, "batches", []), faces.shape[0]]
        if faces.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().restore(faces)


def _crops(count: int) -> list[np.ndarray]:
    return [np.full((64, 64, 3), 10 * i, np.uint8) for i in range(count)]


def test_out_of_memory_halves_the_batch_and_keeps_the_smaller_size():
    restorer = _SmallMemoryRestorer.load()
    pipeline = FaceRestorePipeline(restorer, None, batch_size=8)
    restored = pipeline._restore_crops(_crops(7), 255)
    # Every face came back once, in order.
    expected = [(10 * i / 255 * 0.5 + 0.5) * 255 for i in range(7)]
    assert np.allclose([face.mean() for face in restored], expected, atol=1e-3)
    assert restorer.batches == [7, 4, 2, 2, 2, 1] and pipeline.batch_size == 2


def test_out_of_memory_for_a_single_face_is_a_one_line_error():
    from facefix.errors import FacefixError

    restorer = _SmallMemoryRestorer.load()
    restorer.limit = 0
    with pytest.raises(FacefixError, match="out of memory .* even for one face"):
        FaceRestorePipeline(restorer, None, batch_size=4)._restore_crops(_crops(3), 255)


def test_other_errors_of_the_restorer_are_not_taken_for_out_of_memory():
    class Broken(BrightenRestorer):
        def restore(self, faces):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes"):
        FaceRestorePipeline(Broken.load(), None, batch_size=4)._restore_crops(_crops(2), 255)


def test_unreadable_file_fails_alone_while_the_next_batch_is_prepared_ahead(detector, restorer, tmp_path):
    import shutil

    from facefix.media import expand_inputs
    from facefix.runner import OutputOptions, restore_files

    source = shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs")
    for name in ("00.jpg", "03.jpg", "04.jpg"):
        shutil.copy(source / name, tmp_path / name)
    (tmp_path / "01_broken.jpg").write_bytes(b"not a jpeg")
    items, _ = expand_inputs([str(tmp_path)], recursive=False)
    pipeline = FaceRestorePipeline(restorer, detector)
    done = []
    reports = restore_files(items, pipeline, OutputOptions(output_dir=tmp_path / "out"), images_per_batch=2,
                            on_file_done=lambda report, faces: done.append(report.input))
    assert [r.status for r in reports] == ["restored", "failed", "restored", "restored"]
    assert "01_broken.jpg" in reports[1].error
    assert sorted(done) == sorted(r.input for r in reports)
    for report in (reports[0], reports[2], reports[3]):
        assert report.faces and read_image(report.output).bgr.shape == read_image(report.input).bgr.shape


def test_auto_batch_size_restores_one_face_first_then_sizes_the_rest(monkeypatch):
    import facefix.batching

    asked = []

    def batch_size_for(device, bytes_per_face):
        asked.append((device.type, bytes_per_face))
        return 3

    monkeypatch.setattr(facefix.batching, "batch_size_for", batch_size_for)
    restorer = _SmallMemoryRestorer.load()
    restorer.limit = 8
    pipeline = FaceRestorePipeline(restorer, None, batch_size=None)
    restored = pipeline._restore_crops(_crops(8), 255)
    assert len(restored) == 8 and restorer.batches == [1, 3, 3, 1]
    assert asked == [("cpu", None)] and pipeline.batch_size == 3
