"""CPU cost of the Real-ESRGAN background upsampler (random weights of the released networks), in seconds
of CPU time per input megapixel, next to the wall clock.

CPU time is what the README quotes: on a machine shared with other processes the wall clock measures the
neighbours as much as the network, while the CPU time a single-threaded run consumes stays put.

    python benchmarks/background_upsampler.py --size 128 --threads 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from facefix.upsample import random_weight_upsampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="side of the square random picture")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tile", type=int, default=400)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    picture = np.random.default_rng(0).integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
    megapixels = args.size * args.size / 1e6
    for upscale in (2, 4):
        upsampler = random_weight_upsampler(upscale, device=torch.device("cpu"), tile=args.tile)
        upsampler.enhance(picture[:32, :32])  # warm-up
        cpu, wall = time.process_time(), time.perf_counter()
        upsampler.enhance(picture)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"x{upsampler.scale}: {args.size}x{args.size}, {args.threads} thread(s): {cpu:.2f} s CPU, "
              f"{wall:.2f} s wall -> {cpu / megapixels:.0f} CPU-s / megapixel ({wall / megapixels:.0f} wall)")


if __name__ == "__main__":
    main()
