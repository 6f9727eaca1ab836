"""`facefix bench` times the background upsampler: what it reports, not how fast it is."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from facefix.bench import bench_upsampler
from facefix.cli import app
from facefix.upsample import RRDBConfig, random_weight_upsampler
from facefix.upsample.network import build_rrdbnet

runner = CliRunner()


def test_bench_reports_seconds_per_megapixel_for_given_weights(tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "tiny.pth"
    torch.save({"params_ema": build_rrdbnet(RRDBConfig(scale=2, num_feat=8, num_block=1, num_grow_ch=4))
                .state_dict()}, weights)
    result = runner.invoke(app, ["bench", "--device", "cpu", "--min-seconds", "0", "--json", "--size", "32",
                                 "--batch-sizes", "1", "--bg-weights", str(weights), "--bg-size", "40",
                                 "--bg-tile", "16"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout[result.stdout.index("["):])
    (background,) = [row for row in rows if row["scope"] == "background"]
    assert (background["scale"], background["width"], background["tile"]) == (2, 40, 16)
    assert background["seconds_per_picture"] > 0
    assert background["seconds_per_megapixel"] * 40 * 40 / 1e6 == pytest.approx(background["seconds_per_picture"])


def test_random_weights_follow_the_network_upscale_would_download():
    assert random_weight_upsampler(2, device=torch.device("cpu")).config.scale == 2
    upsampler = random_weight_upsampler(4, device=torch.device("cpu"), tile=0)
    assert upsampler.config == RRDBConfig(scale=4, num_feat=64, num_block=23, num_grow_ch=32)
    result = bench_upsampler(upsampler, size=(8, 8), precision="fp32", warmup=0, min_seconds=0)
    assert result.tile == 0 and result.iterations == 1 and "whole picture" in result.summary()
