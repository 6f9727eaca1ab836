"""Training on several processes: sharding of the data order, and a real 2-process torchrun on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.training import light_loss_networks, write_tiny_faces
from typer.testing import CliRunner

from facefix.cli import app
from facefix.train.distributed import DistributedContext, shard

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("start", "world"), [(0, 2), (8, 2), (0, 3), (12, 3)])
def test_processes_split_each_global_batch_without_overlap(start, world):
    order = list(range(100, 124))
    batch, stop = 2, 24
    shards = [shard(order, start=start, stop=stop, batch_size=batch, context=DistributedContext(r, world))
              for r in range(world)]
    # step k of process r is order[start + k*batch*world + r*batch : ... + batch]: together, each step's
    # processes cover one consecutive global batch, and over the epoch every entry exactly once
    for step in range((stop - start) // (batch * world)):
        together = [i for s in shards for i in s[step * batch:(step + 1) * batch]]
        first = start + step * batch * world
        assert together == order[first:first + batch * world]
    assert sorted(i for s in shards for i in s) == order[start:stop]


def _train_args(faces: Path, out: Path, batch_size: int) -> list[str]:
    return ["train", "--method", "fusion", "--data", str(faces), "--out", str(out), "--preset", "tiny",
            "--size", "32", "--batch-size", str(batch_size), "--max-steps", "3", "--device", "cpu",
            "--set", "log_every=1", "--set", "tensorboard=false", "--set", "checkpoint_every=2"]


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["total"] for line in (run / "log.jsonl").read_text().splitlines()]


def test_torchrun_two_cpu_processes_train_like_one_with_the_whole_batch(tmp_path):
    (tmp_path / "faces").mkdir()
    faces = write_tiny_faces(tmp_path / "faces")
    # Light loss networks in the worker processes too: sitecustomize runs at every interpreter start.
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "from helpers.training import light_loss_networks\nlight_loss_networks().__enter__()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(REPO / "tests"), str(REPO)]),
           "OMP_NUM_THREADS": "1"}
    two = tmp_path / "two"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "facefix", *_train_args(faces, two, batch_size=2)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]

    # rank 0 alone wrote the run: one log line per step, checkpoints with both processes' random states
    state = torch.load(two / "checkpoints" / "step_0000003" / "state.pt", weights_only=True)
    assert (two / "checkpoints" / "step_0000002" / "ema.safetensors").exists()
    assert state["world_size"] == 2 and len(state["random_states"]) == 2
    # 8 faces, 2 x 2 per step: step 3 is the first of epoch 1, which has used 4 faces
    assert (state["epoch"], state["position"]) == (1, 4)
    assert len(_losses(two)) == 3

    # the same three steps in one process with batches of 4: the same data, the same averaged gradients
    one = tmp_path / "one"
    with light_loss_networks():
        result = CliRunner().invoke(app, _train_args(faces, one, batch_size=4))
    assert result.exit_code == 0, result.output
    assert _losses(two) == pytest.approx(_losses(one), rel=1e-4)
