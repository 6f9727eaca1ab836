"""Files per second of one folder through `--engine local` and `--engine ray` with 1 and 2 workers.

    python benchmarks/ray_throughput.py                    # 16 photos, half-width fusion network, random weights
    python benchmarks/ray_throughput.py --weights fusion.gfpgan-v1.4 --files 64 --folder my_photos/

The photos are real ones from ../shared (CodeFormer's whole images, 512 px on the long side), copied
with shifts until there are ``--files``. Random weights cost what real ones cost; ``--narrow 1`` is
GFPGAN's width, the default half width keeps a run on 2 shared cores within minutes. Each engine writes
into a fresh folder; ``wall`` counts everything a user waits for (model loading, Ray workers starting),
``steady`` the files after the first one. The Ray runtime's own start is printed apart: a cluster is
started once for many jobs. The outputs of `local` and `ray x1` (same torch threads) are compared.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from facefix.engines.ray_engine import RayOptions, import_ray, restore_files_on_ray
from facefix.face.detect import load_detector
from facefix.media import expand_inputs
from facefix.pipeline import FaceRestorePipeline
from facefix.runner import OutputOptions, restore_files

SHARED = Path(__file__).resolve().parents[2] / "shared"
PHOTOS = SHARED / "data" / "real" / "CodeFormer" / "inputs" / "whole_imgs"
DETECTOR = SHARED / "data" / "weights" / "detection_mobilenet0.25_Final.pth"
IMAGES_PER_BATCH = 4


def make_folder(folder: Path, files: int, size: int) -> None:
    photos = [cv2.imread(str(path)) for path in sorted(PHOTOS.iterdir())]
    for i in range(files):
        image = photos[i % len(photos)]
        image = cv2.resize(image, None, fx=size / max(image.shape[:2]), fy=size / max(image.shape[:2]),
                           interpolation=cv2.INTER_AREA)
        sub = folder / f"part{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(sub / f"{i:03d}.png"), np.roll(image, 3 * (i // len(photos)), axis=1))


class PipelineFactory:
    """Builds the pipeline in whichever process runs it (a Ray worker, or this one)."""

    def __init__(self, weights: str, narrow: float):
        self.weights, self.narrow = weights, narrow

    def __call__(self) -> FaceRestorePipeline:
        from facefix.backends.fusion import FusionRestorer

        device = torch.device("cpu")
        if self.weights == "random":
            torch.manual_seed(0)  # the same random network in every process
            restorer = FusionRestorer.from_config({"narrow": self.narrow}, device=device)
        else:
            restorer = FusionRestorer.load(self.weights, device=device)
        return FaceRestorePipeline(restorer, load_detector("retinaface_mobile0.25", DETECTOR, device),
                                   batch_size=None)


def digest(folder: Path) -> str:
    hasher = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        hasher.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return hasher.hexdigest()


def timed(name: str, run) -> None:
    finished: list[float] = []
    started = time.perf_counter()
    reports = run(lambda report, faces: finished.append(time.perf_counter()))
    wall = time.perf_counter() - started
    assert all(r.status == "restored" for r in reports), [r.error for r in reports if r.error]
    steady = (len(finished) - 1) / (finished[-1] - finished[0]) if len(finished) > 1 else float("nan")
    print(f"{name:10s} {len(reports)} files  wall {wall:6.1f} s  {len(reports) / wall:5.2f} files/s  "
          f"steady {steady:5.2f} files/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--size", type=int, default=512, help="long side of the generated photos")
    parser.add_argument("--folder", type=Path, help="restore this folder instead of generated photos")
    parser.add_argument("--weights", default="random", help="'random' (512 px network) or a checkpoint")
    parser.add_argument("--narrow", type=float, default=0.5, help="channel width of the random network (1: GFPGAN's)")
    args = parser.parse_args()
    ray = import_ray()

    work = Path(tempfile.mkdtemp(prefix="facefix-ray-bench-"))
    try:
        folder = args.folder or work / "in"
        if args.folder is None:
            make_folder(folder, args.files, args.size)
        items, _ = expand_inputs([str(folder)], recursive=True)
        factory = PipelineFactory(args.weights, args.narrow)
        cpus = os.cpu_count() or 1
        print(f"{len(items)} photos, {cpus} CPUs, torch {torch.__version__}, ray {ray.__version__}", flush=True)

        def local(on_done):
            return restore_files(items, factory(), OutputOptions(work / "local"), images_per_batch=IMAGES_PER_BATCH,
                                 on_file_done=on_done)

        torch.set_num_threads(cpus)  # what `ray x1` gets: one worker with every CPU
        timed("local", local)
        started = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        print(f"ray runtime started in {time.perf_counter() - started:.1f} s", flush=True)
        for workers in (1, 2):
            def on_ray(on_done, workers=workers):
                return restore_files_on_ray(items, factory, OutputOptions(work / f"ray{workers}"),
                                            images_per_batch=lambda kind: IMAGES_PER_BATCH,
                                            ray_options=RayOptions(workers=workers), on_file_done=on_done)

            timed(f"ray x{workers}", on_ray)
        ray.shutdown()
        same = digest(work / "local") == digest(work / "ray1")
        print(f"local and ray x1 outputs byte-identical: {same}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
