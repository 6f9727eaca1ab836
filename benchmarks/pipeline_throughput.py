"""Whole-pipeline throughput of ``facefix restore`` against restoring faces one at a time.

The baseline does what GFPGAN's ``inference_gfpgan.py`` does for every picture: detect, align, restore
each face alone (batch 1), and paste each face with full-frame warps and masks. facefix's runner is
the candidate: faces of several pictures batched through the network, pictures read and detected on a
second thread while the previous batch is restored, and faces pasted within their bounding region.

Both read and write the same files with the same detector and the same random-weight fusion network
(``--narrow`` shrinks its channels, so that the pipeline's own overhead shows), and run A B A B ... in
one process; medians are printed, with where the time goes.

    python benchmarks/pipeline_throughput.py --detector-weights ../shared/data/weights/detection_mobilenet0.25_Final.pth \\
        ../shared/data/real/GPEN/examples/imgs/Solvay_conference_1927.png ../shared/data/real/CodeFormer/inputs/whole_imgs
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

from facefix.backends.fusion import FusionRestorer
from facefix.bench import medians, time_interleaved
from facefix.face.align import align_face
from facefix.face.detect import load_detector
from facefix.face.paste import feather_mask, inverse_affine
from facefix.media import InputFile, Picture, expand_inputs, read_image, write_image
from facefix.pipeline import FaceRestorePipeline, from_tensor, to_tensor
from facefix.runner import OutputOptions, restore_files


def paste_full_frame(canvas: np.ndarray, face: np.ndarray, affine: np.ndarray, upscale: float) -> None:
    """Blend one face into a float canvas with whole-canvas warps and masks, as facexlib does."""
    height, width = canvas.shape[:2]
    inverse = inverse_affine(affine, upscale)
    warped = cv2.warpAffine(face, inverse, (width, height))
    coverage = cv2.warpAffine(np.ones(face.shape[:2], np.float32), inverse, (width, height))
    eroded, soft = feather_mask(coverage, upscale)
    soft = soft[..., None]
    canvas[...] = soft * (warped * eroded[..., None]) + (1 - soft) * canvas


def restore_one_face_at_a_time(items: list[InputFile], pipeline: FaceRestorePipeline, output: Path,
                               stages: dict[str, float]) -> int:
    restorer, upscale = pipeline.restorer, pipeline.upscale
    faces = 0
    for item in items:
        started = time.perf_counter()
        picture = read_image(item.path)
        stages["read"] += time.perf_counter() - started

        started = time.perf_counter()
        detected = pipeline.detect(picture)
        stages["detect"] += time.perf_counter() - started

        height, width = picture.bgr.shape[:2]
        canvas = cv2.resize(picture.bgr, (int(width * upscale), int(height * upscale)),
                            interpolation=cv2.INTER_LANCZOS4).astype(np.float32)
        for face in detected:
            started = time.perf_counter()
            crop, affine = align_face(picture.bgr, face.landmarks, restorer.face_size)
            with torch.inference_mode():
                (restored,) = from_tensor(restorer.restore(to_tensor([crop], picture.max_value, restorer.device)),
                                          picture.max_value)
            stages["align+restore"] += time.perf_counter() - started

            started = time.perf_counter()
            paste_full_frame(canvas, restored, affine, upscale)
            stages["paste"] += time.perf_counter() - started
        faces += len(detected)

        started = time.perf_counter()
        pixels = np.clip(np.rint(canvas), 0, np.iinfo(picture.bgr.dtype).max).astype(picture.bgr.dtype)
        write_image(output / item.relative.with_suffix(".png"), Picture(pixels, None, picture.grayscale, "PNG"))
        stages["write"] += time.perf_counter() - started
    return faces


def restore_batched(items: list[InputFile], pipeline: FaceRestorePipeline, output: Path, images_per_batch: int,
                    stages: dict[str, float]) -> int:
    reports = restore_files(items, pipeline, OutputOptions(output_dir=output, ext="png", overwrite=True),
                            images_per_batch=images_per_batch)
    failed = [report.error for report in reports if report.status == "failed"]
    if failed:
        raise SystemExit(f"facefix failed: {failed}")
    for report in reports:
        for stage, seconds in report.seconds.items():
            stages[stage] += seconds
    return sum(len(report.faces) for report in reports)


def _mean_difference(first: Path, second: Path) -> float:
    differences = [np.abs(cv2.imread(str(a)).astype(np.float32) - cv2.imread(str(second / a.name))).mean()
                   for a in sorted(first.glob("*.png"))]
    return float(np.mean(differences))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="group photos or folders of them")
    parser.add_argument("--detector-weights", type=Path, required=True, help="RetinaFace mobile0.25 weights")
    parser.add_argument("--narrow", type=float, default=0.25, help="channel width of the fusion network (1 = real)")
    parser.add_argument("--batch-size", type=int, default=8, help="faces per network call (facefix)")
    parser.add_argument("--images-per-batch", type=int, default=4, help="pictures whose faces are batched together")
    parser.add_argument("--upscale", type=float, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the raw times here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    items, problems = expand_inputs(args.inputs, recursive=False)
    if problems or not items:
        raise SystemExit("; ".join(problems) or "no inputs")
    restorer = FusionRestorer.from_config({"narrow": args.narrow})
    detector = load_detector("retinaface_mobile0.25", weights=args.detector_weights)
    pipeline = FaceRestorePipeline(restorer, detector, upscale=args.upscale, batch_size=args.batch_size)
    workdir = Path(tempfile.mkdtemp(prefix="facefix_throughput_"))
    stages = {name: defaultdict(float) for name in ("one-at-a-time", "facefix")}
    faces: dict[str, int] = {}

    def one_at_a_time() -> None:
        faces["one-at-a-time"] = restore_one_face_at_a_time(items, pipeline, workdir / "baseline",
                                                            stages["one-at-a-time"])

    def batched() -> None:
        faces["facefix"] = restore_batched(items, pipeline, workdir / "facefix", args.images_per_batch,
                                           stages["facefix"])

    (workdir / "baseline").mkdir()
    times = time_interleaved({"one-at-a-time": one_at_a_time, "facefix": batched}, rounds=args.rounds)
    rounds = args.rounds + 1  # the warm-up round is in the stage totals too
    median = medians(times)
    print(f"{len(items)} pictures, {faces['facefix']} faces (baseline found {faces['one-at-a-time']}); "
          f"fusion narrow={args.narrow}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.rounds} interleaved rounds after one warm-up, medians")
    for name, seconds in median.items():
        breakdown = ", ".join(f"{stage} {total / rounds:.2f}" for stage, total in stages[name].items())
        print(f"  {name:>14}: {seconds:7.2f} s  {faces[name] / seconds:6.2f} faces/s  (per round: {breakdown})")
    print(f"  speed-up {median['one-at-a-time'] / median['facefix']:.2f}x; mean |difference| of the outputs "
          f"{_mean_difference(workdir / 'facefix', workdir / 'baseline'):.2f} / 255")
    if args.json:
        args.json.write_text(json.dumps({"seconds": times, "faces": faces,
                                         "stages": {k: dict(v) for k, v in stages.items()}}, indent=2))


if __name__ == "__main__":
    main()
