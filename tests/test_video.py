"""Videos: frame rate and audio kept, faces restored, frames without faces untouched, smoothing."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from conftest import shared_path
from restorers import BrightenRestorer
from typer.testing import CliRunner

from facefix import backends, video
from facefix.cli import app
from facefix.errors import FacefixError, InputError
from facefix.face.detect import DetectedFace
from facefix.pipeline import FaceRestorePipeline
from facefix.video import LandmarkSmoother, restore_video

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
runner = CliRunner()


@pytest.fixture(autouse=True)
def _test_backend(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "fusion", backends.Backend(restorer="restorers:BrightenRestorer"))


def _make_video(path, frame: np.ndarray, *, frames: int = 6, fps: int = 12, audio: bool = True):
    image = path.with_suffix(".frame.png")
    cv2.imwrite(str(image), frame)
    cmd = [FFMPEG, "-y", "-loglevel", "error", "-loop", "1", "-i", str(image)]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"]
    cmd += ["-frames:v", str(frames), "-r", str(fps), "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    cmd += ["-c:a", "aac", "-shortest"] if audio else []
    subprocess.run([*cmd, str(path)], check=True)


def _probe(path) -> dict:
    frames = imageio_ffmpeg.read_frames(str(path))
    meta = next(frames)
    meta["frames"] = [np.frombuffer(f, np.uint8).reshape(meta["size"][1], meta["size"][0], 3) for f in frames]
    return meta


def _restore(*args: str):
    weights = shared_path("data", "weights", "detection_mobilenet0.25_Final.pth")
    return runner.invoke(app, ["restore", *args, "--detector", "retinaface_mobile0.25",
                               "--detector-weights", str(weights)])


def test_video_with_faces_keeps_fps_and_audio(tmp_path):
    photo = cv2.imread(str(shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", "00.jpg")))
    photo = photo[: photo.shape[0] // 2 * 2, : photo.shape[1] // 2 * 2]
    _make_video(tmp_path / "clip.mp4", photo)
    result = _restore(str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "out"), "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    before, after = _probe(tmp_path / "clip.mp4"), _probe(tmp_path / "out" / "clip.mp4")
    assert after["fps"] == before["fps"] and after["size"] == before["size"]
    assert after.get("audio_codec") == "aac"
    assert len(after["frames"]) == len(before["frames"])
    assert abs(after["frames"][0].astype(float).mean() - before["frames"][0].astype(float).mean()) > 1


def test_video_without_faces_or_audio_passes_through(tmp_path):
    _make_video(tmp_path / "plain.mp4", np.full((64, 96, 3), 120, np.uint8), audio=False)
    result = _restore(str(tmp_path / "plain.mp4"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    after = _probe(tmp_path / "out" / "plain.mp4")
    assert "audio_codec" not in after and len(after["frames"]) == 6
    assert abs(after["frames"][0].astype(float).mean() - 120) < 3


def test_broken_video_is_one_line_error(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    result = _restore(str(tmp_path / "broken.mp4"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1 and "broken.mp4: cannot decode this video" in result.output
    assert "Traceback" not in result.output and not list((tmp_path / "out").iterdir())


def test_smoother_follows_a_face_and_damps_jitter():
    smoother = LandmarkSmoother(weight=0.5)
    box = np.array([0, 0, 100, 100], np.float32)
    base = np.tile(np.array([[50.0, 50.0]]), (5, 1))
    smoother([DetectedFace(box, base, 1.0)])
    (jittered,) = smoother([DetectedFace(box + 2, base + 10, 1.0)])
    np.testing.assert_allclose(jittered.landmarks, base + 5)
    (elsewhere,) = smoother([DetectedFace(box + 500, base + 500, 1.0)])
    np.testing.assert_allclose(elsewhere.landmarks, base + 500)


class _NoFaces:
    """Finds no face, and records the brightness of each frame it is shown, in order."""

    def __init__(self):
        self.seen = []

    def detect(self, image):
        self.seen.append(round(float(image.mean())))
        return []


def _gray_ramp(path, levels: list[int]):
    """A video whose frame i is uniformly gray at ``levels[i]``, so the order of frames can be read back."""
    writer = imageio_ffmpeg.write_frames(str(path), (64, 48), fps=12, macro_block_size=2)
    writer.send(None)
    for level in levels:
        writer.send(np.full((48, 64, 3), level, np.uint8))
    writer.close()


def test_every_frame_comes_out_in_order_with_encoding_on_its_own_thread(tmp_path, monkeypatch):
    levels = [20 * i for i in range(1, 11)]
    _gray_ramp(tmp_path / "ramp.mp4", levels)
    encoders = []

    def recording_encode(writer, pictures, target, seconds):
        encoders.append(threading.current_thread().name)
        real_encode(writer, pictures, target, seconds)

    real_encode = video._encode
    monkeypatch.setattr(video, "_encode", recording_encode)
    detector = _NoFaces()
    pipeline = FaceRestorePipeline(BrightenRestorer.load(), detector)
    report = restore_video(tmp_path / "ramp.mp4", tmp_path / "out" / "ramp.mp4", pipeline, frames_per_batch=3)
    assert set(encoders) == {"facefix-encode"} and len(encoders) == 4  # 3 + 3 + 3 + 1 frames
    np.testing.assert_allclose(detector.seen, levels, atol=3)  # the smoother saw the frames in order
    after = _probe(tmp_path / "out" / "ramp.mp4")
    np.testing.assert_allclose([frame.mean() for frame in after["frames"]], levels, atol=3)
    assert report.status == "no-face" and report.faces[0]["frames"] == 10
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ramp.mp4"]


def _broken_pipe_writer(path, *args, **kwargs):
    """Stands in for imageio-ffmpeg's writer when ffmpeg dies after the first frame."""
    open(path, "wb").close()
    yield  # primed
    yield  # first frame
    raise OSError("[Errno 32] Broken pipe\n\nFFMPEG COMMAND:\nffmpeg -y ...")


def test_an_encoder_failure_is_one_line_and_leaves_no_partial_file(tmp_path, monkeypatch):
    _gray_ramp(tmp_path / "ramp.mp4", [40] * 9)
    monkeypatch.setattr(imageio_ffmpeg, "write_frames", _broken_pipe_writer)
    pipeline = FaceRestorePipeline(BrightenRestorer.load(), _NoFaces())
    target = tmp_path / "out" / "ramp.mp4"
    with pytest.raises(InputError, match=r"ramp.mp4: cannot encode this video \(\[Errno 32\] Broken pipe\)$"):
        restore_video(tmp_path / "ramp.mp4", target, pipeline, frames_per_batch=2)
    assert not list((tmp_path / "out").iterdir())
    assert not any(thread.name.startswith("facefix-") for thread in threading.enumerate())


def test_a_restoration_failure_stops_the_encoder_and_removes_the_partial_file(tmp_path):
    _gray_ramp(tmp_path / "ramp.mp4", [40] * 9)

    class FailsOnTheThirdBatch(FaceRestorePipeline):
        calls = 0

        def complete(self, batch):
            self.calls += 1
            if self.calls == 3:
                raise FacefixError("ramp.mp4: out of memory")
            return super().complete(batch)

    pipeline = FailsOnTheThirdBatch(BrightenRestorer.load(), _NoFaces())
    with pytest.raises(FacefixError, match="out of memory"):
        restore_video(tmp_path / "ramp.mp4", tmp_path / "out" / "ramp.mp4", pipeline, frames_per_batch=2)
    assert not list((tmp_path / "out").iterdir())


class _OneFacePerFrame:
    def detect(self, image):
        h, w = image.shape[:2]
        points = np.array([[0.4, 0.4], [0.6, 0.4], [0.5, 0.5], [0.42, 0.62], [0.58, 0.62]]) * (w, h)
        return [DetectedFace(np.array([0.25 * w, 0.25 * h, 0.75 * w, 0.75 * h]), points.astype(np.float32), 0.9)]


def test_the_runner_reports_a_videos_faces_over_all_frames_and_its_stage_times(tmp_path):
    from facefix.media import InputFile
    from facefix.runner import OutputOptions, restore_files, write_report

    _gray_ramp(tmp_path / "ramp.mp4", [60] * 7)
    pipeline = FaceRestorePipeline(BrightenRestorer.load(), _OneFacePerFrame())
    done, frames_seen = [], []
    (report,) = restore_files([InputFile(tmp_path / "ramp.mp4", Path("ramp.mp4"))], pipeline,
                              OutputOptions(output_dir=tmp_path / "out"),
                              on_file_done=lambda file_report, faces: done.append(faces),
                              on_frames=lambda item, count, total, faces: frames_seen.append(count))
    assert report.status == "restored" and report.frames == 7 and report.face_count == 7
    assert report.faces == [{"frames": 7, "frames_with_faces": 7, "faces": 7}]
    assert done == [7] and frames_seen[-1] == 7  # the progress counts faces, not files
    assert {"restore", "paste", "encode", "total"} <= set(report.seconds)
    assert report.seconds["total"] >= report.seconds["restore"] > 0
    write_report(tmp_path / "run.json", [report])
    summary = json.loads((tmp_path / "run.json").read_text())["summary"]
    assert summary["frames"] == 7 and summary["faces"] == 7 and summary["restored"] == 1
