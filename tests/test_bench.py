"""`facefix bench` and the timing helpers: what they measure and report, not how fast anything is."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_path
from restorers import BrightenRestorer
from typer.testing import CliRunner

from facefix.bench import bench_pipeline, bench_restorer, medians, time_interleaved
from facefix.cli import app
from facefix.errors import FacefixError
from facefix.face.detect import DetectedFace
from facefix.media import expand_inputs
from facefix.pipeline import FaceRestorePipeline

runner = CliRunner()


def test_candidates_are_timed_alternately_after_warm_up():
    calls = []
    times = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert [len(values) for values in times.values()] == [3, 3]
    assert medians({"a": [3.0, 1.0, 2.0]}) == {"a": 2.0}


class _OneFaceDetector:
    """A face in the middle of any picture, so the pipeline bench needs no detector weights."""

    def detect(self, image):
        height, width = image.shape[:2]
        cx, cy, eye = width / 2, height / 2, width / 8
        landmarks = np.array([[cx - eye, cy - eye], [cx + eye, cy - eye], [cx, cy],
                              [cx - eye * 0.8, cy + eye], [cx + eye * 0.8, cy + eye]], np.float32)
        return [DetectedFace(box=np.array([cx - 2 * eye, cy - 2 * eye, cx + 2 * eye, cy + 2 * eye]),
                             landmarks=landmarks, score=0.99)]


def test_pipeline_bench_counts_the_faces_of_every_file(tmp_path):
    for name in ("a.png", "b.jpg", "c.png"):
        cv2.imwrite(str(tmp_path / name), np.full((96, 128, 3), 80, np.uint8))
    items, _ = expand_inputs([str(tmp_path)], recursive=False)
    pipeline = FaceRestorePipeline(BrightenRestorer.load(), _OneFaceDetector(), batch_size=2)
    result = bench_pipeline(pipeline, items, precision="fp32", images_per_batch=2, min_iterations=2)
    assert result.scope == "pipeline" and result.faces == 3 and result.iterations == 2
    assert result.faces_per_second == pytest.approx(3 / result.seconds_per_batch)
    assert {"detect", "restore", "paste", "total"} <= set(result.seconds)
    assert not list(tmp_path.glob("*_*"))  # outputs went to a scratch folder, not next to the inputs


class _TwoFaceRestorer(BrightenRestorer):
    """Runs out of device memory above two faces per call, like a small GPU."""

    def restore(self, faces):
        self.batches = [*getattr(self, "batches", []), faces.shape[0]]
        if faces.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().restore(faces)


def test_network_bench_refuses_a_batch_that_does_not_fit_rather_than_timing_a_smaller_one():
    restorer = _TwoFaceRestorer.load()
    with pytest.raises(FacefixError, match="a batch of 4 faces does not fit"):
        bench_restorer(restorer, batch_size=4, precision="fp32", min_seconds=0)
    assert restorer.batches == [4]
    result = bench_restorer(restorer, batch_size=2, precision="fp32", min_iterations=2, min_seconds=0)
    assert result.batch_size == result.faces == 2 and set(restorer.batches[1:]) == {2}


def test_network_bench_with_auto_batch_size_times_the_size_auto_picks():
    restorer = _TwoFaceRestorer.load()
    result = bench_restorer(restorer, batch_size=None, precision="fp32", warmup=1, min_iterations=2, min_seconds=0)
    assert result.batch_size == 1 and restorer.batches == [1, 1, 1, 1]  # auto on the CPU: one face per call


def _bench_json(*args: str) -> list[dict]:
    result = runner.invoke(app, ["bench", "--backend", "fusion", "--device", "cpu", "--min-seconds", "0", "--json",
                                 "--precision", "fp32", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("["):])


def test_random_weights_at_a_chosen_size_and_batch_sizes():
    rows = _bench_json("--size", "32", "--batch-size", "auto,2")  # auto: as restore sizes it (1 on a CPU)
    assert [(row["scope"], row["face_size"], row["batch_size"]) for row in rows] == [("network", 32, 1),
                                                                                    ("network", 32, 2)]
    assert all(row["faces_per_second"] > 0 and row["peak_memory_mib"] > 0 for row in rows)


def test_auto_precision_shows_the_probe_decision_and_its_timings_then_times_what_it_picked(monkeypatch):
    from facefix.backends.fusion import FusionRestorer

    monkeypatch.setattr(FusionRestorer, "precision_probe_config", {"out_size": 32, "narrow": 0.25})  # a quick probe
    result = runner.invoke(app, ["bench", "--backend", "fusion", "--device", "cpu", "--min-seconds", "0", "--json",
                                 "--size", "32", "--batch-sizes", "1", "--precision", "auto", "--precision", "fp32"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count("precision: ") == 1 and "(auto: bf16 ran" in result.output
    assert "probe, one face, median of 3 interleaved rounds: fp32" in result.output
    picked = "bf16" if "precision: bf16" in result.output else "fp32"
    rows = json.loads(result.stdout[result.stdout.index("["):])
    assert [row["precision"] for row in rows] == [picked, "fp32"]


def test_pipeline_rows_follow_each_network_row(tmp_path):
    photo = shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", "00.jpg")
    weights = shared_path("data", "weights", "detection_mobilenet0.25_Final.pth")
    rows = _bench_json("--size", "32", "--batch-sizes", "4", "--pipeline", str(photo),
                       "--detector", "retinaface_mobile0.25", "--detector-weights", str(weights))
    assert [row["scope"] for row in rows] == ["network", "pipeline"]
    assert rows[1]["faces"] > 0 and rows[1]["batch_size"] == 4


def test_size_cannot_change_a_checkpoint():
    result = runner.invoke(app, ["bench", "--weights", "some.pth", "--size", "64", "--device", "cpu"])
    assert result.exit_code != 0 and "--size" in result.output


def test_compile_needs_a_backend_with_one_network():
    from facefix.bench import compile_restorer

    with pytest.raises(FacefixError, match="no single network"):
        compile_restorer(BrightenRestorer.load())
