"""FID reference statistics: a folder's are cached by content; statistics files are read safely."""

from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest
import torch

from facefix.errors import FacefixError
from facefix.eval import fid


class CountingFeatures:
    """Stands in for Inception: mean colour per image as a 3-d feature; counts the images it sees."""

    tag = "counting"

    def __init__(self):
        self.seen = 0

    def __call__(self, images):
        self.seen += len(images)
        return np.stack([i.reshape(-1, 3).mean(axis=0) + np.arange(3) * i.std() for i in images]).astype(np.float64)


def _folder(path, values):
    path.mkdir()
    for i, v in enumerate(values):
        cv2.imwrite(str(path / f"{i}.png"), np.random.default_rng(i).integers(0, v, (16, 16, 3), dtype=np.uint8))
    return path


def test_folder_statistics_are_cached_by_content(tmp_path):
    features = CountingFeatures()
    folder = _folder(tmp_path / "ref", [50, 100, 200])
    first = fid.folder_reference(folder, features)
    assert features.seen == 3
    copy = _folder(tmp_path / "copy", [50, 100, 200])  # same content elsewhere: same cache entry
    again = fid.folder_reference(copy, features)
    assert features.seen == 3 and np.array_equal(again.mean, first.mean) and np.array_equal(again.cov, first.cov)
    cv2.imwrite(str(folder / "0.png"), np.zeros((16, 16, 3), np.uint8))  # changed content: recomputed
    changed = fid.folder_reference(folder, features)
    assert features.seen == 6 and not np.array_equal(changed.mean, first.mean)


def _as_written_by_numpy_1(path, target):
    """The same torch file with numpy 1's module name for the array reconstructor (basicsr's files)."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("data.pkl"):
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            copy.writestr(item, data)


def test_npz_and_basicsr_statistics_files(tmp_path):
    mean, cov = np.arange(4.0), np.eye(4)
    np.savez(tmp_path / "pytorch_fid.npz", mu=mean, sigma=cov)
    torch.save({"name": "FFHQ", "size": 512, "mean": mean, "cov": cov}, tmp_path / "inception_FFHQ_512.pth")
    _as_written_by_numpy_1(tmp_path / "inception_FFHQ_512.pth", tmp_path / "numpy1.pth")
    for name in ("pytorch_fid.npz", "inception_FFHQ_512.pth", "numpy1.pth"):
        stats = fid.file_reference(tmp_path / name)
        assert np.array_equal(stats.mean, mean) and np.array_equal(stats.cov, cov)


def test_bad_statistics_files_are_one_line_errors(tmp_path):
    np.savez(tmp_path / "wrong.npz", mu=np.zeros(3), sigma=np.eye(2))
    with pytest.raises(FacefixError, match="wrong.npz: FID statistics of the wrong shape"):
        fid.file_reference(tmp_path / "wrong.npz")
    (tmp_path / "inception_FFHQ_512-f7b384ab.pth").write_bytes(b"not the published file")
    with pytest.raises(FacefixError, match="does not start with f7b384ab"):
        fid.file_reference(tmp_path / "inception_FFHQ_512-f7b384ab.pth")
    torch.save({"mean": object()}, tmp_path / "evil.pth")
    with pytest.raises(FacefixError, match="evil.pth: not a readable FID statistics file"):
        fid.file_reference(tmp_path / "evil.pth")
