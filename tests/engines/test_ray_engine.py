"""`facefix restore --engine ray` against the local engine: same bytes, same errors, same skips, and a
worker that dies mid-run changes nothing. One local Ray runtime (2 CPUs) serves the whole module."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest
import torch
from conftest import shared_path
from typer.testing import CliRunner

from facefix.cli import app
from facefix.media import expand_inputs
from facefix.runner import OutputOptions

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]")')

from facefix.engines.ray_engine import RayOptions, restore_files_on_ray  # noqa: E402

cli = CliRunner()
#: photos of the nested test folder: (name in ../shared's CodeFormer inputs, where it goes)
PHOTOS = {"00.jpg": "a/00.png", "03.jpg": "a/b/03.png", "04.jpg": "a/b/04.png", "06.png": "c/06.png",
          "02.png": "02.png"}
#: torch threads of the local reference run: what the one worker of a 2-CPU Ray runtime gets, since CPU
#: kernels sum in a thread-count-dependent order (the last bits of a float differ, and so may a pixel)
THREADS = 2
#: images decoded and restored together by both engines (the CLI's default on the CPU)
IMAGES_PER_BATCH = 4


@pytest.fixture(scope="module")
def ray_runtime(tmp_path_factory):
    home = tmp_path_factory.mktemp("ray_facefix_home")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
             runtime_env={"env_vars": {"FACEFIX_HOME": str(home), "HF_HUB_OFFLINE": "1"}})
    # The crash hook below is defined here, not in an installed module: send it to the workers by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Real photos (256 px on the long side) in a nested folder, and one corrupt file."""
    root = tmp_path_factory.mktemp("photos")
    for name, relative in PHOTOS.items():
        image = cv2.imread(str(shared_path("data", "real", "CodeFormer", "inputs", "whole_imgs", name)))
        scale = 256 / max(image.shape[:2])
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / relative), cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    (root / "a" / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    return root


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """A tiny fusion network with random weights, as a checkpoint file `--weights` takes."""
    from facefix.backends.fusion.network import FusionConfig, FusionGFPGAN
    from facefix.backends.fusion.training import TINY

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny-fusion.pth"
    torch.save(FusionGFPGAN(FusionConfig.from_gfpgan(**TINY)).state_dict(), path)
    return path


def _detector_args() -> list[str]:
    weights = shared_path("data", "weights", "detection_mobilenet0.25_Final.pth")
    return ["--detector", "retinaface_mobile0.25", "--detector-weights", str(weights)]


def _restore(source: Path, out: Path, weights: Path, *args: str):
    return cli.invoke(app, ["restore", str(source), "-r", "-o", str(out), "--weights", str(weights), "--device", "cpu",
                            *_detector_args(), *args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def local_run(photos, tiny_weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        result = _restore(photos, out, tiny_weights, "--report", str(out.parent / "report.json"))
    finally:
        torch.set_num_threads(threads)
    return out, result


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def test_nested_folder_is_byte_identical_and_the_corrupt_file_fails_alone(ray_runtime, photos, tiny_weights,
                                                                          local_run, tmp_path):
    local_out, local_result = local_run
    out = tmp_path / "out"
    result = _restore(photos, out, tiny_weights, "--engine", "ray", "--ray-workers", "1",
                      "--report", str(tmp_path / "report.json"))
    assert result.exit_code == local_result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert _errors(result.output) == _errors(local_result.output)
    assert len(_errors(result.output)) == 1 and "broken.png" in _errors(result.output)[0]
    assert sorted(_files(out)) == sorted(p.replace(".jpg", ".png") for p in PHOTOS.values())
    assert _files(out) == _files(local_out)

    files = json.loads((tmp_path / "report.json").read_text())["files"]
    assert sorted(f["input"] for f in files) == sorted(str(p) for p in photos.rglob("*.png"))
    assert {f["input"]: f["status"] for f in files} == {
        f["input"]: f["status"] for f in json.loads((local_out.parent / "report.json").read_text())["files"]}


def test_rerun_restores_only_what_is_missing(ray_runtime, photos, tiny_weights, local_run, tmp_path):
    local_out, _ = local_run
    out = tmp_path / "out"
    for relative, data in _files(local_out).items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_bytes(data)
    (out / "a" / "b" / "03.png").unlink()  # as if the job had died before this one
    report = tmp_path / "report.json"
    result = _restore(photos, out, tiny_weights, "--engine", "ray", "--report", str(report))
    assert result.exit_code == 1  # the corrupt file fails again
    statuses = {Path(f["input"]).name: f["status"] for f in json.loads(report.read_text())["files"]}
    assert statuses == {"00.png": "skipped-existing", "02.png": "skipped-existing", "03.png": "restored",
                        "04.png": "skipped-existing", "06.png": "skipped-existing", "broken.png": "failed"}
    assert _files(out) == _files(local_out)


@dataclass
class CrashingPipeline:
    """Builds the CLI's pipeline in a worker; the first worker to restore faces exits on the spot
    (``os._exit``: no cleanup, as when a machine dies or the OOM killer strikes), once per marker."""

    weights: Path
    detector_weights: Path
    marker: Path

    def __call__(self):
        from facefix.backends.fusion import FusionRestorer
        from facefix.face.detect import load_detector
        from facefix.pipeline import FaceRestorePipeline

        restorer = FusionRestorer.load(str(self.weights), device=torch.device("cpu"))
        restore, marker = restorer.restore, self.marker

        def restore_or_die(faces):
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)
            return restore(faces)

        restorer.restore = restore_or_die
        detector = load_detector("retinaface_mobile0.25", self.detector_weights, torch.device("cpu"))
        return FaceRestorePipeline(restorer, detector, batch_size=None)


def test_a_worker_killed_mid_run_still_gives_every_file_identical(ray_runtime, photos, tiny_weights, local_run,
                                                                   tmp_path):
    local_out, _ = local_run
    items, _ = expand_inputs([str(photos)], recursive=True)
    marker = tmp_path / "crashed"
    make_pipeline = CrashingPipeline(tiny_weights, shared_path("data", "weights", "detection_mobilenet0.25_Final.pth"),
                                     marker)
    done = []
    reports = restore_files_on_ray(items, make_pipeline, OutputOptions(output_dir=tmp_path / "out"),
                                   images_per_batch=lambda kind: IMAGES_PER_BATCH, ray_options=RayOptions(workers=1),
                                   on_file_done=lambda report, faces: done.append(report.input))
    assert marker.exists()  # a worker did die half-way through a batch
    assert sorted(done) == sorted(str(item.path) for item in items)  # every file reported once
    assert [r.status for r in reports].count("restored") == len(PHOTOS)
    assert [r.status for r in reports].count("failed") == 1
    assert _files(tmp_path / "out") == _files(local_out)
