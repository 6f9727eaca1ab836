"""Ray is an optional extra: facefix works without it, and `--engine ray` says how to install it."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
from conftest import REPO
from typer.testing import CliRunner

from facefix.cli import app


def test_nothing_of_ray_is_imported_by_the_cli():
    code = ("import sys, facefix.cli, facefix.commands.restore, facefix.engines.ray_engine; "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_engine_ray_without_ray_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    result = CliRunner().invoke(app, ["restore", str(image), "-o", str(tmp_path / "out"), "--engine", "ray"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and 'pip install -e ".[ray]"' in lines[0], result.output
    assert not (tmp_path / "out").exists()


def test_workers_take_a_gpu_each_or_share_the_cores():
    from facefix.engines.ray_engine import WorkerShape, worker_shape

    assert worker_shape({"CPU": 64, "GPU": 8}, None) == WorkerShape(8, num_cpus=1, num_gpus=1.0)
    assert worker_shape({"CPU": 64, "GPU": 8}, 16) == WorkerShape(16, num_cpus=1, num_gpus=0.5)
    assert worker_shape({"CPU": 64, "GPU": 8}, None, use_gpus=False) == WorkerShape(16, num_cpus=4, num_gpus=0)
    assert worker_shape({"CPU": 2}, None) == WorkerShape(1, num_cpus=2, num_gpus=0)
    assert worker_shape({"CPU": 2}, 2) == WorkerShape(2, num_cpus=1, num_gpus=0)
    assert worker_shape({"CPU": 2}, 4) == WorkerShape(4, num_cpus=0.5, num_gpus=0)
