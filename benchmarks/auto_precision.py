"""What ``--precision auto`` gives on this CPU: the probe's decision, then per-face time of the real-size
network at the picked precision against fp32, and how far apart their outputs are on real faces.

The network has random weights of the real architecture (nothing is downloaded), as ``facefix bench``
uses. The two precisions are timed A B A B ... in one process on the same faces, medians printed.

    python benchmarks/auto_precision.py --backend fusion --threads 2 --rounds 5 \\
        --faces ../shared/data/real/GFPGAN/inputs/cropped_faces
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from facefix.allocator import keep_freed_cpu_memory
from facefix.backends import backend_class
from facefix.bench import medians, time_interleaved
from facefix.media import expand_inputs, read_image
from facefix.pipeline import to_tensor
from facefix.precision import AUTO, choose_precision


def _faces(folder: Path | None, size: int) -> torch.Tensor:
    """Aligned real faces resized to ``size`` (random ones without ``--faces``)."""
    if folder is None:
        return torch.rand(4, 3, size, size, generator=torch.Generator().manual_seed(0))
    import cv2

    items, _ = expand_inputs([str(folder)], recursive=False)
    pictures = [read_image(item.path) for item in items]
    crops = [cv2.resize(picture.bgr, (size, size), interpolation=cv2.INTER_AREA) for picture in pictures]
    return to_tensor(crops, 255, torch.device("cpu"))


def grey_level_differences(reduced: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """|reduced - reference| in grey levels of 255: mean and 99.9th percentile over all pixels."""
    difference = ((reduced.float() - reference.float()).abs() * 255).flatten().numpy()
    return {"mean": float(difference.mean()), "p99.9": float(np.percentile(difference, 99.9))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="fusion")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--faces", type=Path, help="folder of aligned real faces for the output comparison")
    parser.add_argument("--json", type=Path, help="also write the raw times here")
    args = parser.parse_args()

    keep_freed_cpu_memory()  # as facefix restore runs on the CPU
    cls = backend_class(args.backend)
    chosen = choose_precision(AUTO, cls, torch.device("cpu"), fresh=True)
    probe = chosen.probe
    print(chosen.describe())
    if probe is not None:
        print(f"  probe ({cls.precision_probe_config}, one thread, {probe.rounds} rounds): fp32 "
              f"{probe.fp32_seconds:.3f} s, bf16 {probe.bf16_seconds:.3f} s per pass -> {probe.speedup:.2f}x")

    torch.set_num_threads(args.threads)
    candidates = {"fp32": torch.float32, "bf16": torch.bfloat16}
    restorers = {}
    for name, dtype in candidates.items():
        torch.manual_seed(0)  # the same random weights in both precisions
        restorers[name] = cls.from_config(None, dtype=dtype)
    size = restorers["fp32"].face_size
    faces = _faces(args.faces, size)
    one = faces[:1]
    times = time_interleaved({name: (lambda r=restorer: r.restore(one)) for name, restorer in restorers.items()},
                             rounds=args.rounds)
    middle = medians(times)
    print(f"{args.backend} at {size} px, random weights, batch 1, {args.threads} threads, torch {torch.__version__}, "
          f"{args.rounds} interleaved rounds after one warm-up, medians:")
    for name, seconds in middle.items():
        print(f"  {name}: {seconds:.2f} s per face   (all: {', '.join(f'{t:.2f}' for t in times[name])})")
    print(f"  bf16 is {middle['fp32'] / middle['bf16']:.2f}x the speed of fp32; auto picked {chosen.precision}, "
          f"so default restore runs at {middle['fp32'] / middle[chosen.precision]:.2f}x the speed of --precision fp32")

    outputs = {name: restorer.restore(faces) for name, restorer in restorers.items()}
    gap = grey_level_differences(outputs["bf16"], outputs["fp32"])
    source = args.faces or "random faces"
    print(f"  bf16 against fp32 on {len(faces)} faces from {source}: mean {gap['mean']:.2f}, "
          f"99.9th percentile {gap['p99.9']:.2f} grey levels")
    if args.json:
        args.json.write_text(json.dumps({"choice": chosen.to_dict(), "seconds": times, "difference": gap}, indent=2))


if __name__ == "__main__":
    main()
