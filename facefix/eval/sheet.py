"""A contact sheet of the worst and best images by one metric: input | output | ground truth per row.

Rows are ordered worst first (by the metric's own direction), then a divider, then the best ones; each row
is labelled with the image name and its score. Tiles are scaled to one height so whole photos of any
shape line up.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from facefix.errors import FacefixError
from facefix.quality.metrics import METRICS
from facefix.eval.report import check_new_file
from facefix.eval.runner import EvalResult, Sample

TILE_HEIGHT = 192
LABEL_HEIGHT = 22
GAP = 4
BACKGROUND = (32, 32, 32)
TEXT = (235, 235, 235)


SHEET_FORMATS = (".png", ".jpg", ".jpeg")


def default_metric(metric_names: list[str]) -> str:
    return next(n for n in metric_names if n != "fid")


def check_sheet_options(path: Path, metric: str | None, metric_names: list[str]) -> None:
    """Refuse, before any work, a sheet that could not be written or ranked."""
    check_new_file(path, "--sheet")
    if path.suffix.lower() not in SHEET_FORMATS:
        raise FacefixError(f"{path}: --sheet writes {', '.join(SHEET_FORMATS)} images")
    per_image = [n for n in metric_names if n != "fid"]
    if not per_image:
        raise FacefixError("--sheet ranks images by a per-image metric: add one to --metrics")
    if metric is not None and metric not in per_image:
        raise FacefixError(f"--sheet-metric {metric}: choose one of --metrics {','.join(per_image)}")


def ranked(result: EvalResult, metric: str, count: int) -> tuple[list[str], list[str]]:
    """Names of the ``count`` worst and ``count`` best images by ``metric`` (NaN scores left out)."""
    scored = [(v[metric], name) for name, v in result.per_image.items() if not math.isnan(v[metric])]
    if not scored:
        raise FacefixError(f"--sheet-metric {metric}: no image has a {metric} score")
    # sorted best first; ties broken by name so the sheet is stable
    best_first = [name for _, name in sorted(scored, key=lambda s: (s[0] if METRICS[metric].lower_better
                                                                     else -s[0], s[1]))]
    # no image on both halves: a short set gives its better half to "best", the rest to "worst"
    best = best_first[:min(count, math.ceil(len(best_first) / 2))]
    worst = best_first[len(best):][::-1][:count]
    return worst, best


def _tile(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    new_width = max(1, round(width * TILE_HEIGHT / height))
    return cv2.resize(image, (new_width, TILE_HEIGHT), interpolation=cv2.INTER_AREA if height > TILE_HEIGHT
                      else cv2.INTER_NEAREST)


def _label(text: str, width: int) -> np.ndarray:
    strip = np.full((LABEL_HEIGHT, width, 3), BACKGROUND, np.uint8)
    cv2.putText(strip, text, (4, LABEL_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, TEXT, 1, cv2.LINE_AA)
    return strip


def _row(sample: Sample, caption: str) -> np.ndarray:
    images = [sample.input, sample.output] + ([sample.reference] if sample.reference is not None else [])
    tiles = [_tile(i) for i in images]
    gap = np.full((TILE_HEIGHT, GAP, 3), BACKGROUND, np.uint8)
    strip = [tiles[0]]
    for tile in tiles[1:]:
        strip += [gap, tile]
    pixels = np.concatenate(strip, axis=1)
    return np.concatenate([_label(caption, pixels.shape[1]), pixels])


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, GAP), (0, width - r.shape[1]), (0, 0)), constant_values=BACKGROUND[0]) for r in rows]
    return np.concatenate(padded)


def contact_sheet(samples: list[Sample], result: EvalResult, metric: str, count: int) -> np.ndarray:
    """The sheet as a uint8 BGR image (columns: input, output, ground truth when the set has it)."""
    worst, best = ranked(result, metric, count)
    by_name = {s.name: s for s in samples}
    columns = "input | output" + (" | ground truth" if samples[0].reference is not None else "")
    sections = [(heading, [_row(by_name[n], f"{n}   {metric} = {result.per_image[n][metric]:.4g}") for n in names])
                for heading, names in ((f"worst by {metric}", worst), (f"best by {metric}", best)) if names]
    width = max(row.shape[1] for _, rows in sections for row in rows)
    stacked = []
    for heading, rows in sections:
        stacked += [_label(f"{heading}   ({columns})", width), *rows]
    return _stack(stacked)
