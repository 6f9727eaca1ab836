"""``facefix restore --engine ray``: the same files, restored by Ray workers on every GPU of a cluster.

The driver plans exactly as the local engine does (:func:`facefix.runner.plan_files`: same outputs, same
skips, same per-file errors, same image batches), then hands each batch to a pool of worker actors. A
worker holds one pipeline (restorer and detector: one per GPU, or ``num_cpus`` cores on a CPU-only
cluster) and runs a batch from start to finish: decode, detect, restore, paste, and the atomic write
(:func:`facefix.runner.restore_batch`). A batch is restored as the local engine restores it, so the
outputs are byte-identical on the same kind of device. A worker that dies is restarted by Ray and its
batch retried (``max_restarts`` / ``max_task_retries``); outputs appear only when complete, so a
retried batch rewrites the same bytes. Videos are one task each.

Ray is an optional extra: nothing here imports it until :func:`restore_files_on_ray` runs.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from facefix.errors import FacefixError
from facefix.media import InputFile
from facefix.pipeline import FaceRestorePipeline
from facefix.runner import (FileJob, FileReport, ImageBatch, OutputOptions, plan_files, restore_batch,
                            run_file_job)

INSTALL_HINT = 'pip install -e ".[ray]"'

#: batches sent ahead to each worker, so that it never waits for the driver between two batches
IN_FLIGHT_PER_WORKER = 2


def import_ray():
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise FacefixError(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a Ray runtime in this process, on this machine
    workers: int | None = None  # None: one per GPU of the cluster; without GPUs, one per CPU_CORES_PER_WORKER
    max_retries: int = 3  # restarts of a dead worker, and retries of the batch it held
    local_cpus: int | None = None  # cores of an in-process runtime (None: all of this machine's)
    use_gpus: bool = True  # False (--device cpu): workers ask for cores even where there are GPUs


#: cores per worker on a cluster without GPUs: torch's convolutions scale well up to about this many threads
CPU_CORES_PER_WORKER = 4


@dataclass(frozen=True)
class WorkerShape:
    count: int
    num_cpus: float
    num_gpus: float


def worker_shape(resources: dict[str, float], workers: int | None, *, use_gpus: bool = True) -> WorkerShape:
    """How many workers, and what each asks Ray for: a GPU each when the cluster has GPUs, else cores."""
    gpus, cpus = int(resources.get("GPU", 0)) if use_gpus else 0, max(1, int(resources.get("CPU", 1)))
    if gpus:
        count = workers or gpus
        return WorkerShape(count, num_cpus=1, num_gpus=min(1.0, gpus / count))
    count = workers or max(1, cpus // CPU_CORES_PER_WORKER)
    # More workers than cores share them (a worker asking for a whole core each would wait forever).
    return WorkerShape(count, num_cpus=cpus // count if count <= cpus else cpus / count, num_gpus=0)


class RestoreWorker:
    """A Ray actor (see :func:`restore_files_on_ray`): one pipeline, many batches."""

    def __init__(self, make_pipeline: Callable[[], FaceRestorePipeline], options: OutputOptions, threads: int):
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.options = options
        # Kept, not raised: bad weights are the job's one-line error (see ready), not a dead worker to restart.
        self.startup_error: str | None = None
        try:
            self.pipeline = make_pipeline()
        except FacefixError as exc:
            self.startup_error = str(exc)

    def ready(self) -> str | None:
        """None once the models are loaded, or why they could not be."""
        return self.startup_error

    def restore_batch(self, batch: ImageBatch, items: dict[int, InputFile]) -> list[tuple[int, FileReport, int]]:
        return restore_batch(batch, items, self.pipeline, self.options)

    def restore_video(self, job: FileJob, items: dict[int, InputFile]) -> list[tuple[int, FileReport, int]]:
        from facefix.video import restore_video

        report = FileReport(input=str(job.item.path))
        run_file_job(job, lambda item, target: restore_video(item.path, target, self.pipeline,
                                                             overwrite=self.options.overwrite), report)
        return [(job.index, report, report.face_count)]


def _connect(ray, options: RayOptions) -> bool:
    """Join the cluster at ``options.address``, or start one in this process; True if we started it."""
    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False,
             "configure_logging": True}
    if options.address:
        ray.init(address=options.address, **{k: v for k, v in quiet.items() if k != "include_dashboard"})
    else:
        # Workers import facefix as this process does (an editable checkout on PYTHONPATH included).
        ray.init(num_cpus=options.local_cpus, **quiet)
    return True


def _job_files(job: ImageBatch | FileJob) -> list[int]:
    return [index for index, _ in job.entries] if isinstance(job, ImageBatch) else [job.index]


def restore_files_on_ray(items: list[InputFile], make_pipeline: Callable[[], FaceRestorePipeline],
                         options: OutputOptions, *, images_per_batch: Callable[[str], int],
                         ray_options: RayOptions = RayOptions(),
                         on_file_done: Callable[[FileReport, int], None] | None = None) -> list[FileReport]:
    """:func:`facefix.runner.restore_files` on Ray workers: one report per input, in order.

    ``make_pipeline`` builds the pipeline inside each worker (it is pickled and sent to them; it
    picks the worker's device there). ``images_per_batch(kind)`` is what the local engine would
    batch on a device of that kind (``"cuda"`` or ``"cpu"``, the workers'). ``on_file_done(report,
    faces)`` runs on this thread.
    """
    ray = import_ray()
    started_here = _connect(ray, ray_options)
    try:
        shape = worker_shape(ray.cluster_resources(), ray_options.workers, use_gpus=ray_options.use_gpus)
        plan = plan_files(items, options, images_per_batch=images_per_batch("cuda" if shape.num_gpus else "cpu"))

        def done(index: int, report: FileReport, faces: int) -> None:
            plan.reports[index] = report
            if on_file_done:
                on_file_done(report, faces)

        for index in plan.settled:
            done(index, plan.reports[index], 0)
        if plan.jobs:
            pool = _WorkerPool(ray, make_pipeline, options, shape, ray_options.max_retries,
                               count=min(shape.count, len(plan.jobs)))
            try:
                pool.run(plan.jobs, items, plan.reports, done)
            finally:
                pool.close()
    finally:
        if started_here:
            ray.shutdown()
    return plan.reports


class _WorkerPool:
    """Worker actors, each kept :data:`IN_FLIGHT_PER_WORKER` jobs ahead.

    Ray restarts a worker that dies and retries its jobs; one that died for good (its restarts spent)
    is replaced, and its jobs are tried once more before their files fail."""

    def __init__(self, ray, make_pipeline: Callable[[], FaceRestorePipeline], options: OutputOptions,
                 shape: WorkerShape, max_retries: int, count: int):
        self.ray = ray
        self.actor = ray.remote(RestoreWorker).options(num_cpus=shape.num_cpus, num_gpus=shape.num_gpus,
                                                       max_restarts=max_retries, max_task_retries=max_retries)
        self.arguments = (make_pipeline, options, 0 if shape.num_gpus else max(1, int(shape.num_cpus)))
        self.workers = [self.actor.remote(*self.arguments) for _ in range(count)]
        try:
            startup_errors = ray.get([worker.ready.remote() for worker in self.workers])
        except ray.exceptions.RayError as exc:
            startup_errors = [f"a Ray worker could not start ({_first_line(exc)})"]
        for startup_error in filter(None, startup_errors):
            self.close()
            raise FacefixError(startup_error)

    def close(self) -> None:
        for worker in self.workers:
            self.ray.kill(worker, no_restart=True)

    def run(self, jobs: list[ImageBatch | FileJob], items: list[InputFile], reports: list[FileReport],
            done: Callable[[int, FileReport, int], None]) -> None:
        ray, waiting = self.ray, deque(jobs)
        running: dict = {}  # object ref -> (worker, job)
        second_tries: set[int] = set()  # id() of jobs sent again after their worker died for good

        def submit(worker) -> None:
            if waiting:
                job = waiting.popleft()
                method = worker.restore_batch if isinstance(job, ImageBatch) else worker.restore_video
                # Each job carries its own files: a worker never holds the whole (maybe huge) list.
                running[method.remote(job, {index: items[index] for index in _job_files(job)})] = (worker, job)

        for _ in range(IN_FLIGHT_PER_WORKER):
            for worker in self.workers:
                submit(worker)
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            worker, job = running.pop(ref)
            try:
                results = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                results = [] if id(job) not in second_tries else _failed(job, reports, exc)
                if not results:
                    second_tries.add(id(job))
                    waiting.appendleft(job)
                if worker in self.workers:  # the first of its jobs to come back: a fresh worker takes its place
                    self.workers[self.workers.index(worker)] = worker = self.actor.remote(*self.arguments)
                    submit(worker)
                else:
                    worker = self.workers[0] if not running else None
            except ray.exceptions.RayError as exc:  # the job raised (a bug): its files fail, the rest go on
                results = _failed(job, reports, exc)
            for index, report, faces in results:
                done(index, report, faces)
            if worker is not None:
                submit(worker)


def _failed(job: ImageBatch | FileJob, reports: list[FileReport], exc: Exception) -> list[tuple[int, FileReport, int]]:
    cause = _first_line(exc)
    results = []
    for index in _job_files(job):
        report = reports[index]
        report.status, report.error = "failed", f"{report.input}: a Ray worker failed ({cause})"
        results.append((index, report, 0))
    return results


def _first_line(exc: Exception) -> str:
    message = str(exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__
