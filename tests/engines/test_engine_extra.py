"""Ray is an optional extra: facefix works without it, and `--engine ray` says how to install it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


class _FakeRay:
    """Just enough of Ray for the worker pool: calls run when their result is asked for; a worker in
    ``dead`` (by creation number, dead once it started) or a batch starting at a file in ``poison``
    raises RayActorError."""

    class exceptions:
        class RayError(Exception):
            pass

        class RayActorError(RayError):
            pass

    def __init__(self, dead: set[int], poison: set[int]):
        self.dead, self.poison, self.created, self.killed = dead, poison, 0, []

    def remote(self, cls):
        fake = self

        class Actor:
            def options(self, **kwargs):
                return self

            def remote(self, *args):
                fake.created += 1
                return _FakeWorker(fake, fake.created - 1)

        return Actor()

    def wait(self, refs, num_returns):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return [self.get(r) for r in ref] if isinstance(ref, list) else ref()

    def kill(self, worker, no_restart):
        self.killed.append(worker.number)


class _FakeWorker:
    def __init__(self, ray, number):
        self.ray, self.number = ray, number

    def _call(self, run, *, may_die=True):
        class Method:
            @staticmethod
            def remote(*args):
                def result():
                    if may_die and self.number in self.ray.dead:
                        raise _FakeRay.exceptions.RayActorError(f"worker {self.number} died\nmore detail")
                    return run(*args)
                return result
        return Method()

    @property
    def ready(self):
        return self._call(lambda: None, may_die=False)

    @property
    def restore_batch(self):
        from facefix.runner import FileReport

        def run(batch, items):
            if batch.entries[0][0] in self.ray.poison:
                raise _FakeRay.exceptions.RayActorError("killed by its batch")
            return [(index, FileReport(input=str(items[index].path), status="restored"), 1)
                    for index, _ in batch.entries]
        return self._call(run)


def _pool_run(tmp_path, dead, poison):
    from facefix.engines.ray_engine import WorkerShape, _WorkerPool
    from facefix.media import InputFile
    from facefix.runner import OutputOptions, plan_files

    items = [InputFile(tmp_path / f"{i}.png", Path(f"{i}.png")) for i in range(12)]
    plan = plan_files(items, OutputOptions(tmp_path / "out"), images_per_batch=2)
    ray = _FakeRay(dead, poison)
    pool = _WorkerPool(ray, None, None, WorkerShape(2, 1, 0), max_retries=3, count=2)
    done = []
    pool.run(plan.jobs, items, plan.reports, lambda index, report, faces: done.append((index, report)))
    pool.close()
    return ray, sorted(done, key=lambda pair: pair[0])


def test_a_worker_dead_for_good_is_replaced_and_its_batches_done_elsewhere(tmp_path):
    ray, done = _pool_run(tmp_path, dead={1}, poison=set())
    assert [index for index, _ in done] == list(range(12))  # every file once
    assert all(report.status == "restored" for _, report in done)
    assert ray.created == 3 and sorted(ray.killed) == [0, 2]  # worker 1 replaced by worker 2


def test_a_batch_that_kills_every_worker_fails_alone(tmp_path):
    ray, done = _pool_run(tmp_path, dead=set(), poison={4})
    assert [index for index, _ in done] == list(range(12))
    failed = {index: report.error for index, report in done if report.status == "failed"}
    assert sorted(failed) == [4, 5]
    assert failed[4] == f"{tmp_path / '4.png'}: a Ray worker failed (killed by its batch)"
