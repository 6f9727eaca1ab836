"""The metrics by name, with their direction and convention: plain data, read by `facefix eval --help`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    lower_better: bool
    needs_reference: bool
    convention: str


METRICS: dict[str, MetricInfo] = {
    "psnr": MetricInfo("psnr", False, True, "uint8, all channels (basicsr calculate_psnr, crop_border 0)"),
    "ssim": MetricInfo("ssim", False, True, "uint8, all channels (basicsr calculate_ssim, crop_border 0)"),
    "lpips": MetricInfo("lpips", True, True, "LPIPS v0.1 with VGG-16, inputs in [-1, 1]"),
    "niqe": MetricInfo("niqe", True, False, "basicsr calculate_niqe on Y, crop_border 0, shipped parameters"),
    "ids": MetricInfo("ids", True, True, "ArcFace IR-SE50 embedding angle to the reference, degrees"),
    "fid": MetricInfo("fid", True, False,
                      "pytorch-fid InceptionV3 pool3 features, Frechet distance to a reference set"),
}

#: NIQE scores 96 x 96 blocks and fits a covariance over them, so an image needs at least two
NIQE_BLOCK = 96
