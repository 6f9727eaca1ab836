"""Channels-last against contiguous (NCHW) activations for a backend's network on one device.

Two copies of the same seeded network, one in each layout, restore the same random faces in turn
(A B A B ...), so that the load of other processes falls on both alike; medians are printed with the
largest difference between the two outputs. :attr:`Restorer.channels_last_on_cpu` records
what this measured for each backend.

    python benchmarks/memory_format.py --backend fusion --batch-sizes 1,4 --rounds 4 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from facefix.backends import backend_class
from facefix.bench import synchronize
from facefix.device import resolve_device, resolve_dtype, to_memory_format

LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def _restorer(backend: str, device: torch.device, dtype: torch.dtype, layout: torch.memory_format):
    torch.manual_seed(0)
    restorer = backend_class(backend).from_config(None, device=device, dtype=dtype)
    restorer.memory_format = layout
    to_memory_format(restorer.network, layout)
    return restorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="fusion", help="a backend with one convolutional network (fusion, mmrb)")
    parser.add_argument("--batch-sizes", default="1")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device, dtype = resolve_device(args.device), resolve_dtype(args.precision)
    restorers = {name: _restorer(args.backend, device, dtype, layout) for name, layout in LAYOUTS.items()}
    size = next(iter(restorers.values())).face_size
    print(f"{args.backend} {size} px, {args.precision} on {device}, {args.threads} threads, {args.rounds} rounds")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        faces = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1)).to(device)
        times: dict[str, list[float]] = {name: [] for name in restorers}
        outputs = {}
        for round_index in range(args.rounds + 1):  # round 0 warms up
            for name, restorer in restorers.items():
                synchronize(device)
                started = time.perf_counter()
                outputs[name] = restorer.restore(faces)
                synchronize(device)
                if round_index:
                    times[name].append(time.perf_counter() - started)
        medians = {name: statistics.median(values) / batch for name, values in times.items()}
        difference = (outputs["contiguous"] - outputs["channels_last"]).abs().max().item()
        timings = ", ".join(f"{name} {seconds * 1000:.0f} ms/face" for name, seconds in medians.items())
        print(f"batch {batch}: {timings}"
              + f"; channels_last / contiguous = {medians['channels_last'] / medians['contiguous']:.2f}"
              + f"; max output difference {difference:.1e}")


if __name__ == "__main__":
    main()
