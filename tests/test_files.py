"""The one writer: complete files only, never over an existing file or an input, names that fit."""

from __future__ import annotations

import errno
import multiprocessing
import os
from pathlib import Path

import pytest

from facefix import files
from facefix.errors import InputError
from facefix.files import DiskFullError, OutputExistsError


def test_writes_a_new_file_and_leaves_no_temporary(tmp_path):
    target = files.write_bytes(tmp_path / "sub" / "report.json", "{}")
    assert target.read_text() == "{}"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]


def test_an_existing_file_is_replaced_only_with_overwrite(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("the user's")
    with pytest.raises(OutputExistsError, match="already exists"):
        files.write_bytes(target, "ours")
    assert target.read_text() == "the user's"
    files.write_bytes(target, "ours", overwrite=True)
    assert target.read_text() == "ours"


def test_an_input_is_never_replaced_even_with_overwrite(tmp_path):
    photo = tmp_path / "x.jpg"
    photo.write_bytes(b"photo")
    with pytest.raises(InputError, match="is an input or an output of this run"):
        files.write_bytes(photo, b"report", overwrite=True, protected={photo.resolve()})
    assert photo.read_bytes() == b"photo"


def test_a_file_that_appears_while_writing_is_kept(tmp_path):
    """The check is made by the rename itself, not only before the work."""
    target = tmp_path / "out.png"

    def slow_write(tmp: Path) -> None:
        tmp.write_bytes(b"ours")
        target.write_bytes(b"another run's")  # finished first

    with pytest.raises(OutputExistsError):
        files.write_with(target, slow_write)
    assert target.read_bytes() == b"another run's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_temporary_names_are_unique_per_call_and_short():
    target = Path("/x") / ("a" * 240 + ".png")
    first, second = files.temp_path(target), files.temp_path(target)
    assert first != second and str(os.getpid()) in first.name
    assert len(first.name) < 60 and first.suffix == ".png"


def test_a_name_too_long_for_the_file_system_is_shortened_stably(tmp_path):
    long = tmp_path / ("portrait_" * 30 + "final.jpg")
    assert len(long.name) > 255
    written = files.write_bytes(long, b"x")
    assert written == files.fit_name(long) and written.suffix == ".jpg" and len(written.name.encode()) <= 255
    assert written.name.startswith("portrait_portrait_") and written.read_bytes() == b"x"
    other = files.fit_name(tmp_path / ("portrait_" * 30 + "other.jpg"))
    assert other != written  # the hash of the whole name keeps different names apart
    assert files.fit_name(tmp_path / "short.jpg") == tmp_path / "short.jpg"


def test_a_failed_write_leaves_nothing(tmp_path):
    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")

    with pytest.raises(RuntimeError):
        files.write_with(tmp_path / "out.png", broken)
    assert list(tmp_path.iterdir()) == []


def test_permission_denied_is_named_as_such(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(files.os, "link", refuse)
    with pytest.raises(InputError, match="permission denied"):
        files.write_bytes(tmp_path / "out.png", b"x")


def test_out_of_space_is_its_own_error(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(DiskFullError, match="out of disk space"):
        files.write_bytes(tmp_path / "out.png", b"x")
    assert list(tmp_path.iterdir()) == []


def test_without_hard_links_the_name_is_still_claimed_exclusively(tmp_path, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(files.os, "link", no_links)
    assert files.write_bytes(tmp_path / "a.txt", b"1").read_bytes() == b"1"
    with pytest.raises(OutputExistsError):
        files.write_bytes(tmp_path / "a.txt", b"2")
    assert (tmp_path / "a.txt").read_bytes() == b"1"


def _write_many(folder: str, tag: str, count: int) -> list[str]:
    results = []
    for i in range(count):
        try:
            files.write_bytes(Path(folder) / f"{i:03d}.bin", tag.encode() * 20000)
            results.append("written")
        except OutputExistsError:
            results.append("exists")
    return results


def test_two_processes_writing_one_folder_never_mix_or_replace(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        first, second = pool.starmap(_write_many, [(str(tmp_path), "A", 60), (str(tmp_path), "B", 60)])
    assert all({a, b} == {"written", "exists"} for a, b in zip(first, second))  # exactly one wins each name
    for i, (a, _) in enumerate(zip(first, second)):
        data = (tmp_path / f"{i:03d}.bin").read_bytes()
        assert data == (b"A" if a == "written" else b"B") * 20000  # whole, and the winner's
    assert len(list(tmp_path.iterdir())) == 60  # no temporary file left
