"""Training data: folders and list files, reproducible batches with worker processes."""

from __future__ import annotations

import pytest
import torch
from helpers.training import write_tiny_faces

from facefix.errors import FacefixError
from facefix.train.data import DegradedFaces, batch_loader, list_faces
from facefix.quality.degradation import GFPGAN_DEGRADATION


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return write_tiny_faces(tmp_path_factory.mktemp("faces"), count=6, size=32)


def test_folder_is_listed_recursively_and_sorted(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_tiny_faces(tmp_path / "a" / "b", count=2, size=8)
    write_tiny_faces(tmp_path, count=1, size=8)
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.relative_to(tmp_path).as_posix() for p in list_faces(tmp_path)] == ["0.png", "a/b/0.png", "a/b/1.png"]


def test_list_file_paths_are_relative_to_it_and_may_be_absolute(faces, tmp_path):
    list_file = faces / "train.txt"
    list_file.write_text(f"# held out: 5.png\n0.png\n\n  1.png  \n{(faces / '2.png').resolve()}\n")
    assert list_faces(list_file) == [faces / "0.png", faces / "1.png", (faces / "2.png").resolve()]


def test_list_file_with_a_missing_entry_names_the_line(faces):
    list_file = faces / "broken.txt"
    list_file.write_text("0.png\nmissing.png\n")
    with pytest.raises(FacefixError, match=r"broken.txt: line 2: missing.png is not a file"):
        list_faces(list_file)


def test_missing_data_is_a_one_line_error(tmp_path):
    with pytest.raises(FacefixError, match="no such folder or list file"):
        list_faces(tmp_path / "nowhere")
    with pytest.raises(FacefixError, match="no training images found"):
        list_faces(tmp_path)


def _batches(faces, workers: int) -> list[dict[str, torch.Tensor]]:
    dataset = DegradedFaces(list_faces(faces), size=32, degradation=GFPGAN_DEGRADATION, seed=3)
    dataset.epoch = 2
    return list(batch_loader(dataset, [5, 0, 3, 1], batch_size=2, workers=workers, pin_memory=False,
                             seed=(3, 2, 0)))


def test_worker_processes_give_the_same_batches_and_leave_the_global_random_state(faces):
    torch.manual_seed(0)
    expected_next = torch.rand(1)
    torch.manual_seed(0)
    in_process = _batches(faces, workers=0)
    assert torch.equal(torch.rand(1), expected_next)  # the recipe's random stream is untouched
    with_workers = _batches(faces, workers=2)
    assert len(in_process) == 2
    for a, b in zip(in_process, with_workers):
        assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"])
    assert not torch.equal(in_process[0]["lq"], in_process[0]["gt"])  # degraded


def test_validation_faces_are_not_flipped(faces):
    flipped = [DegradedFaces(list_faces(faces), size=32, degradation=None, seed=s)[0]["gt"] for s in range(8)]
    plain = DegradedFaces(list_faces(faces), size=32, degradation=None, flip=False)[0]["gt"]
    assert any(torch.equal(f, plain.flip(-1)) for f in flipped)
    assert all(torch.equal(DegradedFaces(list_faces(faces), size=32, degradation=None, seed=s, flip=False)[0]["gt"],
                           plain) for s in range(8))
