"""What :func:`facefix.allocator.keep_freed_cpu_memory` changes: the fusion network's CPU latency with
glibc's default allocator behaviour against the kept-heap settings.

An allocator setting is process-wide and cannot be undone, so each setting gets its own worker
process; the workers build the same seeded network and are asked for one face each in turn
(A B A B ...), so that the load of other processes falls on both alike. Medians are printed.

    python benchmarks/cpu_allocator.py --rounds 5 --threads 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time

import torch


def _worker(keep_freed: bool, threads: int, size: int, connection) -> None:
    from facefix.backends.fusion import FusionRestorer
    from facefix.allocator import keep_freed_cpu_memory

    if keep_freed and not keep_freed_cpu_memory():
        raise SystemExit("this C library has no mallopt(): nothing to compare")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    restorer = FusionRestorer.from_config({"out_size": size})
    faces = torch.rand(1, 3, size, size)
    while connection.recv():
        started = time.perf_counter()
        restorer.restore(faces)
        connection.send(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    connections = {}
    for name, keep_freed in (("glibc default", False), ("keep_freed_cpu_memory", True)):
        ours, theirs = context.Pipe()
        context.Process(target=_worker, args=(keep_freed, args.threads, args.size, theirs), daemon=True).start()
        connections[name] = ours
    times: dict[str, list[float]] = {name: [] for name in connections}
    for round_index in range(args.rounds + 1):  # round 0 warms up
        for name, connection in connections.items():
            connection.send(True)
            seconds = connection.recv()
            if round_index:
                times[name].append(seconds)
    for connection in connections.values():
        connection.send(False)
    print(f"fusion network {args.size} px, batch 1, fp32, {args.threads} threads, {args.rounds} interleaved rounds")
    for name, values in times.items():
        print(f"  {name:>22}: median {statistics.median(values):.3f} s/face  (all: "
              f"{', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
