"""Run a backend over an evaluation set and score it.

The set is a folder of aligned faces (resized to the backend's face size), optionally with a folder of
ground truth of the same file names, or made on the spot (``synthesize``) from clean faces with the
CelebA-Test degradation and a fixed seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from facefix.backends.base import Restorer
from facefix.errors import FacefixError
from facefix.eval import metrics as m
from facefix.media import IMAGE_EXTENSIONS
from facefix.pipeline import from_tensor, to_tensor
from facefix.train.degradation import CELEBA_TEST_DEGRADATION, degrade

SYNTHESIS_SEED = 2024


@dataclass
class EvalResult:
    metrics: list[str]
    per_image: dict[str, dict[str, float]] = field(default_factory=dict)
    fid: float | None = None

    def means(self) -> dict[str, float]:
        means = {name: float(np.nanmean([v[name] for v in self.per_image.values()]))
                 for name in self.metrics if name != "fid" and not all(np.isnan(v[name]) for v in
                                                                         self.per_image.values())}
        if self.fid is not None:
            means["fid"] = self.fid
        return means

    def to_json(self) -> str:
        images = {name: {k: None if np.isnan(v) else v for k, v in values.items()}
                  for name, values in self.per_image.items()}
        return json.dumps({"mean": self.means(), "images": images,
                           "conventions": {n: m.METRICS[n].convention for n in self.metrics}}, indent=2)


def _images(folder: Path, limit: int | None) -> list[Path]:
    if not folder.is_dir():
        raise FacefixError(f"{folder}: not a folder of images")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise FacefixError(f"{folder}: no images found")
    return files[:limit] if limit else files


def _read(path: Path, size: int) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FacefixError(f"{path}: cannot read this image")
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA) if image.shape[:2] != (size, size) else image


def load_pairs(dataset: Path, *, size: int, gt: Path | None, synthesize: bool, limit: int | None
               ) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """``(name, input, ground truth or None)`` per image, all ``size`` x ``size`` uint8 BGR."""
    pairs = []
    for index, path in enumerate(_images(dataset, limit)):
        name = str(path.relative_to(dataset))
        image = _read(path, size)
        if synthesize:
            rng = np.random.default_rng([SYNTHESIS_SEED, index])
            lq = degrade(image.astype(np.float32) / 255.0, rng, CELEBA_TEST_DEGRADATION)
            pairs.append((name, (lq * 255).round().astype(np.uint8), image))
        elif gt is not None:
            reference = gt / name
            if not reference.exists():
                raise FacefixError(f"{reference}: ground truth for {path.name} is missing")
            pairs.append((name, image, _read(reference, size)))
        else:
            pairs.append((name, image, None))
    return pairs


def restore_pairs(restorer: Restorer, pairs, batch_size: int = 4) -> list[np.ndarray]:
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            crops = [p[1] for p in pairs[start:start + batch_size]]
            restored = restorer.restore(to_tensor(crops, 255, restorer.device))
            outputs += [np.clip(np.rint(face), 0, 255).astype(np.uint8) for face in from_tensor(restored, 255)]
    return outputs


def score(pairs, outputs: list[np.ndarray], metric_names: list[str], *, device: torch.device,
          pretrained: bool = True) -> EvalResult:
    unknown = sorted(set(metric_names) - set(m.METRICS))
    if unknown:
        raise FacefixError(f"--metrics: unknown metric(s) {', '.join(unknown)} (known: {', '.join(m.METRICS)})")
    has_gt = all(p[2] is not None for p in pairs)
    needing_gt = [n for n in metric_names if m.METRICS[n].needs_reference and n != "ids"]
    if needing_gt and not has_gt:
        raise FacefixError(f"--metrics {','.join(needing_gt)} need ground truth: pass --gt DIR or --synthesize")
    pair_metrics = {"psnr": m.psnr, "ssim": m.ssim, "niqe": None}
    if "lpips" in metric_names:
        pair_metrics["lpips"] = m.LPIPSMetric(device, pretrained=pretrained)
    if "ids" in metric_names:
        pair_metrics["ids"] = m.IdentityMetric(device, pretrained=pretrained)
    result = EvalResult(metrics=metric_names)
    for (name, lq, gt), out in zip(pairs, outputs):
        values = {}
        for metric in metric_names:
            if metric == "niqe":
                values[metric] = m.niqe(out)
            elif metric == "ids":
                # Without ground truth, identity is measured against the input (does restoration keep the person?).
                values[metric] = pair_metrics["ids"](out, gt if gt is not None else lq)
            elif metric != "fid":
                values[metric] = pair_metrics[metric](out, gt)
        result.per_image[name] = values
    if "fid" in metric_names:
        if not has_gt:
            raise FacefixError("--metrics fid needs a reference set: pass --gt DIR or --synthesize")
        features = m.InceptionFeatures(device, pretrained=pretrained)
        result.fid = m.frechet_distance(features(outputs), features([p[2] for p in pairs]))
    return result
