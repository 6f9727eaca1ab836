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


def _tar_with(path, build) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        build(tar, tarfile, io)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink-out", "hardlink-out"])
def test_archive_members_that_leave_the_folder_are_refused(tmp_path, kind):
    from facefix.eval.datasets import _unpack

    def build(tar, tarfile, io):
        data = b"x"
        name = {"dotdot": "lfw/../../evil.txt", "absolute": "/tmp/evil.txt"}.get(kind, "lfw/ok.txt")
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        if kind in ("symlink-out", "hardlink-out"):
            link = tarfile.TarInfo("lfw/link")
            link.type = tarfile.SYMTYPE if kind == "symlink-out" else tarfile.LNKTYPE
            link.linkname = "../../../etc/passwd" if kind == "symlink-out" else "../outside.txt"
            tar.addfile(link)

    archive = tmp_path / "evil.tgz"
    _tar_with(archive, build)
    with pytest.raises(FacefixError, match="refused"):
        _unpack(archive, tmp_path / "set")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "set").exists()


def test_an_archive_with_links_inside_unpacks(tmp_path):
    from facefix.eval.datasets import _unpack

    def build(tar, tarfile, io):
        info = tarfile.TarInfo("lfw/a/face.jpg")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
        link = tarfile.TarInfo("lfw/b/same.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "../a/face.jpg"
        tar.addfile(link)

    archive = tmp_path / "ok.tgz"
    _tar_with(archive, build)
    _unpack(archive, tmp_path / "set")
    assert (tmp_path / "set" / "lfw" / "b" / "same.jpg").read_bytes() == b"abc"
