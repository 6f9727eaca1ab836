"""restore_files writes outputs on a background thread: files fail alone, and all is written when it returns."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from restorers import BrightenRestorer

from facefix import runner
from facefix.concurrency import BackgroundWorker
from facefix.errors import InputError
from facefix.face.detect import DetectedFace
from facefix.media import InputFile, expand_inputs
from facefix.pipeline import FaceRestorePipeline
from facefix.runner import OutputOptions, restore_files

real_write_image = runner.write_image


class _CenterFace:
    """One face in the middle of every picture, without detection weights."""

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        h, w = image.shape[:2]
        points = np.array([[0.4, 0.4], [0.6, 0.4], [0.5, 0.5], [0.42, 0.62], [0.58, 0.62]]) * (w, h)
        return [DetectedFace(np.array([0.25 * w, 0.25 * h, 0.75 * w, 0.75 * h]), points.astype(np.float32), 0.9)]


def _photos(folder, count: int) -> list[InputFile]:
    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:02d}.png"), np.full((96, 96, 3), 20 * i, np.uint8))
    return expand_inputs([str(folder)], recursive=False)[0]


def _restore(items, out, **kwargs):
    pipeline = FaceRestorePipeline(BrightenRestorer.load(), _CenterFace())
    return restore_files(items, pipeline, OutputOptions(output_dir=out), images_per_batch=2, **kwargs)


def test_outputs_are_written_on_another_thread_and_all_exist_on_return(tmp_path, monkeypatch):
    writers = []

    def slow_write(path, picture, **kwargs):
        writers.append(threading.current_thread().name)
        time.sleep(0.05)  # a slow encoder: returning early would leave files missing
        return real_write_image(path, picture, **kwargs)

    monkeypatch.setattr(runner, "write_image", slow_write)
    items = _photos(tmp_path / "in", 5)
    done = []
    reports = _restore(items, tmp_path / "out", on_file_done=lambda report, faces: done.append((report.input, faces)))
    assert set(writers) == {"facefix-write"}
    assert [r.status for r in reports] == ["restored"] * 5
    assert all(cv2.imread(r.output) is not None for r in reports)
    assert sorted(done) == [(str(item.path), 1) for item in items]
    assert all(r.seconds["write"] >= 0.05 and r.seconds["total"] >= r.seconds["write"] for r in reports)


def test_batch_is_written_while_the_next_one_is_restored(tmp_path, monkeypatch):
    second_batch_started = threading.Event()
    overlapped = []

    class Pipeline(FaceRestorePipeline):
        def complete(self, batch):
            if any(result.picture.bgr.mean() > 30 for result in batch.results):  # 02.png onwards
                second_batch_started.set()
            return super().complete(batch)

    def waiting_write(path, picture, **kwargs):
        if path.name == "00.png":  # with writes on the main thread, the next batch could not start
            overlapped.append(second_batch_started.wait(timeout=10))
        return real_write_image(path, picture, **kwargs)

    monkeypatch.setattr(runner, "write_image", waiting_write)
    items = _photos(tmp_path / "in", 4)
    reports = restore_files(items, Pipeline(BrightenRestorer.load(), _CenterFace()),
                            OutputOptions(output_dir=tmp_path / "out"), images_per_batch=2)
    assert overlapped == [True] and [r.status for r in reports] == ["restored"] * 4


def test_a_write_failure_fails_only_that_file(tmp_path, monkeypatch):
    def write_or_fail(path, picture, **kwargs):
        if path.name == "01.png":
            raise InputError(path.parent, "cannot write output (No space left on device)")
        return real_write_image(path, picture, **kwargs)

    monkeypatch.setattr(runner, "write_image", write_or_fail)
    failed = []
    reports = _restore(_photos(tmp_path / "in", 3), tmp_path / "out",
                       on_file_done=lambda report, faces: failed.append(report.error) if report.error else None)
    assert [r.status for r in reports] == ["restored", "failed", "restored"]
    assert reports[1].error == f"{tmp_path / 'out'}: cannot write output (No space left on device)"
    assert failed == [reports[1].error] and reports[1].output is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00.png", "02.png"]


def test_pending_writes_finish_when_a_fatal_error_escapes(tmp_path, monkeypatch):
    def slow_write(path, picture, **kwargs):
        time.sleep(0.2)
        return real_write_image(path, picture, **kwargs)

    def broken_install(item, target):
        raise ImportError("No module named 'imageio_ffmpeg'")  # no later file would work either

    monkeypatch.setattr(runner, "write_image", slow_write)
    items = _photos(tmp_path / "in", 2)
    (tmp_path / "in" / "clip.mp4").write_bytes(b"")
    items.append(InputFile(tmp_path / "in" / "clip.mp4", Path("clip.mp4")))
    with pytest.raises(ImportError, match="imageio_ffmpeg"):
        _restore(items, tmp_path / "out", video_handler=broken_install)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00.png", "01.png"]
    assert not any(thread.name == "facefix-write" for thread in threading.enumerate())


def test_an_unexpected_error_of_the_writer_fails_only_that_file(tmp_path, monkeypatch):
    def broken_write(path, picture, **kwargs):
        if path.name == "01.png":
            raise RuntimeError("a bug in the encoder")
        return real_write_image(path, picture, **kwargs)

    monkeypatch.setattr(runner, "write_image", broken_write)
    reports = _restore(_photos(tmp_path / "in", 3), tmp_path / "out")
    assert [r.status for r in reports] == ["restored", "failed", "restored"]
    assert reports[1].error == f"{tmp_path / 'in' / '01.png'}: RuntimeError: a bug in the encoder"


def test_worker_runs_calls_in_order_and_stops_at_the_first_error():
    ran = []

    def record(value):
        if value == 2:
            raise ValueError("two")
        ran.append(value)

    with pytest.raises(ValueError, match="two"):
        with BackgroundWorker("test-worker", pending=1) as worker:
            for value in range(5):
                worker.submit(record, value)
    assert ran == [0, 1]


def test_worker_submit_blocks_while_the_queue_is_full():
    release = threading.Event()
    worker = BackgroundWorker("test-worker", pending=1)
    worker.submit(release.wait)  # running
    worker.submit(lambda: None)  # waiting
    third = threading.Thread(target=worker.submit, args=(lambda: None,))
    third.start()
    third.join(timeout=0.2)
    assert third.is_alive()
    release.set()
    third.join(timeout=5)
    assert not third.is_alive()
    worker.close()


def test_worker_discards_queued_calls_when_the_body_raises():
    release, ran = threading.Event(), []
    with pytest.raises(KeyError):
        with BackgroundWorker("test-worker", pending=2, discard_on_error=True) as worker:
            worker.submit(release.wait)
            worker.submit(ran.append, "queued")
            threading.Timer(0.2, release.set).start()  # the running call ends after the body has raised
            raise KeyError("stop")
    assert ran == []
