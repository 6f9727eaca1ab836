"""Run a backend over an evaluation set and score it.

The set is a folder of aligned faces (resized to the backend's face size) or of whole photos (kept at
their size), optionally with a folder of ground truth of the same file names, or made on the spot
(``synthesize``) from clean images with the CelebA-Test degradation and a fixed seed. Inpainting sets
are made by :mod:`facefix.eval.inpaint`, whole photos are restored by :mod:`facefix.eval.photos`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from facefix.backends.base import Restorer
from facefix.batching import Batches
from facefix.console import progress
from facefix.errors import FacefixError
from facefix.quality import metrics as m
from facefix.eval.fid import FIDReference
from facefix.media import IMAGE_EXTENSIONS, read_image
from facefix.pipeline import from_tensor, to_tensor
from facefix.quality.degradation import CELEBA_TEST_DEGRADATION, degrade

SYNTHESIS_SEED = 2024


@dataclass
class FacePair:
    """One face of a whole photo: aligned crops of the input, of the output and of the ground truth."""

    input: np.ndarray
    output: np.ndarray
    reference: np.ndarray | None = None


@dataclass
class Sample:
    """One evaluation image, uint8 BGR: what the model saw, what it made, and the ground truth if any."""

    name: str
    input: np.ndarray
    reference: np.ndarray | None
    output: np.ndarray | None = None
    faces: list[FacePair] | None = None  # whole photos only: the faces the pipeline found


@dataclass
class EvalResult:
    metrics: list[str]
    per_image: dict[str, dict[str, float]] = field(default_factory=dict)
    fid: float | None = None
    fid_reference: str | None = None

    def means(self) -> dict[str, float]:
        means = {}
        for name in self.metrics:
            values = [v[name] for v in self.per_image.values() if name in v]
            if name != "fid" and values and not all(np.isnan(values)):
                means[name] = float(np.nanmean(values))
        if self.fid is not None:
            means["fid"] = self.fid
        return means

    def to_dict(self) -> dict:
        images = {name: {k: None if np.isnan(v) else v for k, v in values.items()}
                  for name, values in self.per_image.items()}
        report = {"mean": self.means(), "images": images,
                  "conventions": {n: m.METRICS[n].convention for n in self.metrics}}
        if self.fid_reference:
            report["fid_reference"] = self.fid_reference
        return report

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def image_files(folder: Path, limit: int | None) -> list[Path]:
    if not folder.is_dir():
        raise FacefixError(f"{folder}: not a folder of images")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise FacefixError(f"{folder}: no images found")
    return files[:limit] if limit else files


def read_face(path: Path, size: int | None = None) -> np.ndarray:
    """An evaluation image as the metrics take it: 8-bit BGR (16-bit files keep their high byte, as
    OpenCV's 8-bit decoding does), resized to ``size`` x ``size`` when a size is given."""
    image = read_image(path).bgr
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if size is None or image.shape[:2] == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def synthesize_input(clean: np.ndarray, index: int) -> np.ndarray:
    """The CelebA-Test degradation of image ``index``: a pure function of the image and its index."""
    rng = np.random.default_rng([SYNTHESIS_SEED, index])
    return (degrade(clean.astype(np.float32) / 255.0, rng, CELEBA_TEST_DEGRADATION) * 255).round().astype(np.uint8)


def load_samples(dataset: Path, *, size: int | None, gt: Path | None, synthesize: bool, limit: int | None
                 ) -> list[Sample]:
    """One sample per image; ``size=None`` keeps each image at its own size (whole photos)."""
    samples = []
    for index, path in enumerate(image_files(dataset, limit)):
        name = str(path.relative_to(dataset))
        image = read_face(path, size)
        if synthesize:
            samples.append(Sample(name, synthesize_input(image, index), image))
        elif gt is not None:
            reference_path = gt / name
            if not reference_path.exists():
                raise FacefixError(f"{reference_path}: ground truth for {path.name} is missing")
            reference = read_face(reference_path, size)
            if reference.shape != image.shape:
                raise FacefixError(f"{reference_path}: ground truth is {reference.shape[1]}x{reference.shape[0]}, "
                                   f"the input {image.shape[1]}x{image.shape[0]}")
            samples.append(Sample(name, image, reference))
        else:
            samples.append(Sample(name, image, None))
    return samples


def restore_samples(restorer: Restorer, samples: list[Sample], batch_size: int | None = 4) -> None:
    """Restore aligned faces in batches (``None``: sized as ``--batch-size auto``); sets each sample's ``output``."""
    def restore(chunk: list[Sample]) -> list[np.ndarray]:
        faces = restorer.restore(to_tensor([sample.input for sample in chunk], 255, restorer.device))
        return [np.clip(np.rint(face), 0, 255).astype(np.uint8) for face in from_tensor(faces, 255)]

    with progress(transient=True) as bar:
        task = bar.add_task("restoring", total=len(samples), status="")
        outputs = Batches(restorer.device, batch_size, name=restorer.name).map(
            restore, samples, on_chunk=lambda count: bar.advance(task, count))
    for sample, output in zip(samples, outputs):
        sample.output = output


def check_metric_names(metric_names: list[str]) -> None:
    unknown = sorted(set(metric_names) - set(m.METRICS))
    if unknown:
        raise FacefixError(f"--metrics: unknown metric(s) {', '.join(unknown)} (known: {', '.join(m.METRICS)})")
    if not metric_names:
        raise FacefixError("--metrics: name at least one metric")


def check_metrics(metric_names: list[str], samples: list[Sample], fid_reference: FIDReference | None) -> None:
    """Refuse, before any scoring, metrics that are unknown or lack what they compare against."""
    check_metric_names(metric_names)
    has_gt = all(s.reference is not None for s in samples)
    needing_gt = [n for n in metric_names if m.METRICS[n].needs_reference and n not in ("ids", "fid")]
    if needing_gt and not has_gt:
        raise FacefixError(f"--metrics {','.join(needing_gt)} need ground truth: pass --gt DIR or --synthesize")
    if "fid" in metric_names and not has_gt and fid_reference is None:
        raise FacefixError("--metrics fid needs a reference set: pass --fid-ref DIR, --fid-stats FILE, --gt DIR "
                           "or --synthesize")
    if "fid" in metric_names and len(samples) < 2:
        raise FacefixError("--metrics fid needs at least 2 images (the covariance of one image is undefined)")


def _identity(metric: m.IdentityMetric, sample: Sample) -> float:
    """Angle to the ground truth, or without one to the input (does restoration keep the person?).
    Whole photos: the mean over their faces, NaN when none was found."""
    if sample.faces is None:
        return metric(sample.output, sample.reference if sample.reference is not None else sample.input)
    angles = [metric(face.output, face.reference if face.reference is not None else face.input)
              for face in sample.faces]
    return float(np.mean(angles)) if angles else float("nan")


def score(samples: list[Sample], metric_names: list[str], *, device: torch.device, pretrained: bool = True,
          fid_reference: FIDReference | None = None, inception: m.InceptionFeatures | None = None) -> EvalResult:
    """Score every sample's ``output``; FID against ``fid_reference``, or the ground truth set without one."""
    check_metrics(metric_names, samples, fid_reference)
    reference_metrics = {"psnr": m.psnr, "ssim": m.ssim}
    if "lpips" in metric_names:
        reference_metrics["lpips"] = m.LPIPSMetric(device, pretrained=pretrained)
    identity = m.IdentityMetric(device, pretrained=pretrained) if "ids" in metric_names else None
    result = EvalResult(metrics=metric_names)
    with progress(transient=True) as bar:
        task = bar.add_task("scoring", total=len(samples), status="")
        for sample in samples:
            values = {}
            for metric in metric_names:
                if metric == "niqe":
                    values[metric] = m.niqe(sample.output)
                elif metric == "ids":
                    values[metric] = _identity(identity, sample)
                elif metric != "fid":
                    values[metric] = reference_metrics[metric](sample.output, sample.reference)
            result.per_image[sample.name] = values
            bar.advance(task)
    if "fid" in metric_names:
        inception = inception or m.InceptionFeatures(device, pretrained=pretrained)
        features = inception([s.output for s in samples])
        if fid_reference is None:
            reference = m.feature_statistics(inception([s.reference for s in samples]))
            result.fid_reference = "the ground truth of this set"
        else:
            reference = (fid_reference.mean, fid_reference.cov)
            result.fid_reference = fid_reference.description
            if reference[0].shape != (features.shape[1],):
                raise FacefixError(f"{fid_reference.description}: FID statistics of {reference[0].shape[0]} "
                                   f"features, Inception gives {features.shape[1]}")
        result.fid = m.frechet_distance_between(*m.feature_statistics(features), *reference)
    return result
