"""Draw the README picture of the fusion backend's ``--fidelity`` knob (writes docs/fidelity.png).

Everything in the picture is made here, on a CPU, in about ten minutes; no downloaded weights, no photos:

1. a few hundred synthetic cartoon faces are drawn procedurally (seeded) at 64 px into a temp folder;
2. a tiny fusion model is trained on them with the project's own CLI
   (``facefix train --method fusion --preset tiny ... --set train_backbone=true``; the tiny preset uses
   random-weight loss networks) and exported with ``facefix train export``;
3. held-out faces (drawn with other seeds) are degraded with the project's degradation model and restored
   with ``FusionRestorer`` at several ``fidelity`` values;
4. one row (input | F=0 ... F=1 | ground truth) is drawn with a line chart underneath of the mean absolute
   difference of each output from the F=1 output, averaged over the held-out faces.

This is a tiny 64 px model trained from scratch on cartoons, not GFPGAN v1.4: the picture shows what the
knob does to the network, not the quality of the released weights.

    . .venv/bin/activate && python docs/fidelity_figure.py   # about 11 minutes on 2 busy CPU cores

matplotlib is used by this docs tool only; it is not a dependency of facefix.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from facefix.backends.base import RestoreOptions
from facefix.backends.fusion import FusionRestorer
from facefix.quality.degradation import GFPGAN_DEGRADATION, degrade

FIDELITIES = (0.0, 0.25, 0.5, 0.75, 1.0)
SIZE = 64
#: one fixed, moderate point of GFPGAN's training ranges, so the example input is legible but clearly degraded
EXAMPLE_DEGRADATION = dataclasses.replace(
    GFPGAN_DEGRADATION, blur_sigma=(1.5, 1.5), anisotropic_prob=0.0, downsample=(2.5, 2.5), noise=(6.0, 6.0),
    jpeg_quality=(75, 75), gray_prob=0.0)


# ---------------------------------------------------------------------------------------------- faces
def _colour(rng: np.random.Generator, low: tuple, high: tuple) -> tuple[int, int, int]:
    """A BGR colour with each channel uniform in [low, high]."""
    return tuple(int(rng.uniform(lo, hi)) for lo, hi in zip(low, high))


def draw_face(seed: int, size: int = SIZE) -> np.ndarray:
    """A cartoon face (uint8 BGR, ``size`` x ``size``), roughly where FFHQ's alignment puts a face.

    Drawn at 4x and reduced with area averaging, so the edges are anti-aliased.
    """
    rng = np.random.default_rng([2024, seed])
    s = size * 4
    u = s / 256.0  # drawing units: a 256-px canvas

    def p(x: float, y: float) -> tuple[int, int]:
        return round(x * u), round(y * u)

    def r(v: float) -> int:
        return max(1, round(v * u))

    # background: a vertical gradient between two random colours
    top, bottom = np.array(_colour(rng, (40, 40, 40), (230, 230, 230))), np.array(_colour(rng, (20, 20, 20), (200, 200, 200)))
    ramp = np.linspace(0, 1, s)[:, None, None]
    img = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (s, s, 3)).astype(np.uint8).copy()

    # skin tones: from pale to dark (BGR)
    tone = rng.uniform()
    skin = np.array([205, 220, 250]) * (1 - tone) + np.array([60, 90, 140]) * tone + rng.normal(0, 8, 3)
    skin = tuple(int(c) for c in np.clip(skin, 0, 255))
    shade = tuple(int(c * 0.8) for c in skin)
    hair = _colour(rng, (10, 10, 10), (120, 140, 200)) if rng.random() < 0.8 else _colour(rng, (150, 150, 150), (230, 230, 230))

    cx = 128 + rng.uniform(-6, 6)
    cy = 132 + rng.uniform(-6, 6)
    fw = rng.uniform(62, 78)     # half-width of the face
    fh = fw * rng.uniform(1.2, 1.4)
    tilt = rng.uniform(-6, 6)

    # neck and shoulders
    cv2.rectangle(img, p(cx - fw * 0.45, cy + fh * 0.6), p(cx + fw * 0.45, 256), shade, -1, cv2.LINE_AA)
    cv2.ellipse(img, p(cx, 256 + 30), (r(fw * 1.9), r(80)), 0, 180, 360, _colour(rng, (30, 30, 30), (220, 220, 220)),
                -1, cv2.LINE_AA)
    # hair behind the head
    hair_style = rng.integers(3)
    if hair_style == 0:    # long
        cv2.ellipse(img, p(cx, cy + fh * 0.1), (r(fw * 1.25), r(fh * 1.1)), tilt, 0, 360, hair, -1, cv2.LINE_AA)
    elif hair_style == 1:  # short
        cv2.ellipse(img, p(cx, cy - fh * 0.15), (r(fw * 1.12), r(fh * 0.95)), tilt, 180, 360, hair, -1, cv2.LINE_AA)
    # ears
    for side in (-1, 1):
        cv2.ellipse(img, p(cx + side * fw * 0.97, cy + fh * 0.02), (r(fw * 0.14), r(fh * 0.17)), 0, 0, 360, shade, -1,
                    cv2.LINE_AA)
    # the face
    cv2.ellipse(img, p(cx, cy), (r(fw), r(fh)), tilt, 0, 360, skin, -1, cv2.LINE_AA)
    # fringe over the forehead
    if hair_style != 2 or rng.random() < 0.5:
        cv2.ellipse(img, p(cx, cy - fh * 0.55), (r(fw * 1.03), r(fh * rng.uniform(0.35, 0.55))), tilt, 180, 360, hair,
                    -1, cv2.LINE_AA)

    eye_y = cy - fh * rng.uniform(0.02, 0.12)
    eye_dx = fw * rng.uniform(0.38, 0.48)
    eye_w, eye_h = fw * rng.uniform(0.2, 0.27), fh * rng.uniform(0.08, 0.12)
    iris = _colour(rng, (20, 30, 30), (200, 170, 120))
    gaze = rng.uniform(-0.35, 0.35) * eye_w
    brow_lift = rng.uniform(0.7, 1.3)
    brow = tuple(int(c * 0.8) for c in hair)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        cv2.ellipse(img, p(ex, eye_y), (r(eye_w), r(eye_h)), 0, 0, 360, (245, 245, 245), -1, cv2.LINE_AA)
        cv2.circle(img, p(ex + gaze, eye_y), r(eye_h * 0.95), iris, -1, cv2.LINE_AA)
        cv2.circle(img, p(ex + gaze, eye_y), r(eye_h * 0.45), (15, 15, 15), -1, cv2.LINE_AA)
        cv2.circle(img, p(ex + gaze + eye_h * 0.3, eye_y - eye_h * 0.3), r(eye_h * 0.18), (255, 255, 255), -1,
                    cv2.LINE_AA)
        cv2.ellipse(img, p(ex, eye_y), (r(eye_w), r(eye_h)), 0, 0, 360, shade, r(1.5), cv2.LINE_AA)
        # brow: an arc above the eye
        cv2.ellipse(img, p(ex, eye_y - eye_h - fh * 0.05 * brow_lift), (r(eye_w * 1.15), r(eye_h * 1.2)),
                    side * rng.uniform(0, 10), 200, 340, brow, r(rng.uniform(3, 7)), cv2.LINE_AA)

    # nose: a bridge line and a base arc
    nose_y = cy + fh * rng.uniform(0.18, 0.26)
    nose_w = fw * rng.uniform(0.1, 0.18)
    cv2.line(img, p(cx, eye_y + eye_h), p(cx - nose_w * 0.3, nose_y), shade, r(2.5), cv2.LINE_AA)
    cv2.ellipse(img, p(cx, nose_y), (r(nose_w), r(nose_w * 0.5)), 0, 0, 180, shade, r(3), cv2.LINE_AA)

    # mouth: lips as a filled arc (a smile or a flat mouth)
    mouth_y = cy + fh * rng.uniform(0.45, 0.55)
    mouth_w = fw * rng.uniform(0.28, 0.42)
    lips = _colour(rng, (60, 50, 140), (120, 110, 220))
    smile = rng.uniform(0.15, 0.55)
    cv2.ellipse(img, p(cx, mouth_y), (r(mouth_w), r(mouth_w * smile)), 0, 0, 180, lips, -1, cv2.LINE_AA)
    cv2.ellipse(img, p(cx, mouth_y), (r(mouth_w), r(mouth_w * 0.12)), 0, 180, 360, lips, -1, cv2.LINE_AA)
    cv2.line(img, p(cx - mouth_w, mouth_y), p(cx + mouth_w, mouth_y), (40, 30, 70), r(2), cv2.LINE_AA)

    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


# -------------------------------------------------------------------------------------------- training
def facefix(*args: str) -> None:
    command = [sys.executable, "-m", "facefix", *args]
    print("$", " ".join(command[2:]), flush=True)
    subprocess.run(command, check=True)


def train(data: Path, run: Path, model: Path, args: argparse.Namespace) -> None:
    # the paper's Adam lr (the tiny preset's 5e-4 is for smoke runs), decayed to 0, and a short EMA: with the default
    # 0.999 a run of a few hundred steps would export mostly the random initial weights
    facefix("train", "--method", "fusion", "--preset", "tiny", "--data", str(data), "--output", str(run),
            "--max-steps", str(args.steps), "--batch-size", str(args.batch_size), "--device", "cpu",
            "--set", "train_backbone=true", "--set", f"lr={args.lr}", "--set", f"ema_decay={args.ema_decay}",
            "--set", "lr_schedule=cosine",
            "--set", f"checkpoint_every={args.steps}", "--set", "log_every=10", "--set", "tensorboard=false")
    facefix("train", "export", str(run), "-o", str(model))


# --------------------------------------------------------------------------------------------- figure
def to_tensor(bgr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(bgr[..., ::-1])).permute(2, 0, 1).float()


def to_rgb8(tensor: torch.Tensor) -> np.ndarray:
    return (tensor.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def restore_all(model: Path, faces: list[np.ndarray], seed: int) -> tuple[torch.Tensor, dict[float, torch.Tensor]]:
    """The degraded inputs (N, 3, H, W) and, per fidelity, the restored faces."""
    gts = [face.astype(np.float32) / 255.0 for face in faces]
    lqs = torch.stack([to_tensor(degrade(gt, np.random.default_rng([seed, i]), EXAMPLE_DEGRADATION))
                       for i, gt in enumerate(gts)])
    outputs = {}
    for fidelity in FIDELITIES:
        restorer = FusionRestorer.load(model, options=RestoreOptions(fidelity=fidelity))
        outputs[fidelity] = restorer.restore(lqs)
    return lqs, outputs


def make_figure(path: Path, gt: np.ndarray, lq: np.ndarray, restored: list[np.ndarray],
                distances: list[float], caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cell = 128
    names = {0.0: "F = 0 (prior)", 1.0: "F = 1 (GFPGAN)"}
    titles = ["degraded input"] + [names.get(f, f"F = {f:g}") for f in FIDELITIES] + ["ground truth"]
    images = [lq] + restored + [gt]
    big = [cv2.resize(image, (cell, cell), interpolation=cv2.INTER_NEAREST) for image in images]

    columns = len(images)
    fig = plt.figure(figsize=(columns * 1.45, 4.2), dpi=110)
    grid = fig.add_gridspec(2, columns, height_ratios=[1.0, 1.0], hspace=0.3, wspace=0.05,
                            left=0.02, right=0.98, top=0.86, bottom=0.17)
    for i, (image, title) in enumerate(zip(big, titles)):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("facefix --backend fusion --fidelity F: the SFT-modulated half of the decoder's channels, "
                 "blended with its unmodulated version", fontsize=10)

    chart = fig.add_subplot(grid[1, 1:columns - 1])
    chart.plot(FIDELITIES, distances, "o-", color="tab:blue")
    for f, d in zip(FIDELITIES, distances):
        chart.annotate(f"{d:.1f}", (f, d), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    chart.set_xlabel("fidelity F", fontsize=9)
    chart.set_ylabel("mean |output - output(F=1)|\n(grey levels, 0-255)", fontsize=8)
    chart.set_xticks(FIDELITIES)
    chart.set_ylim(0, max(distances) * 1.3 + 0.5)
    chart.tick_params(labelsize=8)
    chart.grid(alpha=0.3)
    fig.text(0.5, 0.015, caption, ha="center", fontsize=7.5, color="0.3")
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=300, help="training faces to draw")
    parser.add_argument("--held-out", type=int, default=32, help="held-out faces the chart averages over")
    parser.add_argument("--steps", type=int, default=160, help="training steps (about 3 s each on 2 cores)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--ema-decay", type=float, default=0.95)
    parser.add_argument("--example", type=int, default=0, help="which held-out face the row shows")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent / "fidelity.png")
    parser.add_argument("--workdir", type=Path, help="keep the faces, the run and the model here (default: a temp dir)")
    args = parser.parse_args()
    start = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="facefix-fidelity-") as temp:
        work = args.workdir or Path(temp)
        data, run, model = work / "faces", work / "run", work / "model.safetensors"
        data.mkdir(parents=True, exist_ok=True)
        for i in range(args.faces):
            cv2.imwrite(str(data / f"face_{i:04d}.png"), draw_face(i))
        print(f"drew {args.faces} training faces in {data}", flush=True)
        if not model.exists():
            train(data, run, model, args)
        trained = time.monotonic()

        torch.manual_seed(0)
        held_out = [draw_face(100_000 + i) for i in range(args.held_out)]
        lqs, outputs = restore_all(model, held_out, seed=7)

    reference = outputs[1.0]
    per_face = {f: ((out - reference).abs().mean(dim=(1, 2, 3)) * 255) for f, out in outputs.items()}
    distances = [float(per_face[f].mean()) for f in FIDELITIES]
    e = args.example
    example = [float(per_face[f][e]) for f in FIDELITIES]
    gt_error = [float(((outputs[f] - torch.stack([to_tensor(h.astype(np.float32) / 255) for h in held_out]))
                       .abs().mean()) * 255) for f in FIDELITIES]
    print("fidelity  mean|out-out(F=1)| (all held-out)  (example face)  mean|out-gt|")
    for f, d, x, g in zip(FIDELITIES, distances, example, gt_error):
        print(f"{f:8.2f}  {d:32.2f}  {x:14.2f}  {g:12.2f}")
    monotonic = all(a > b for a, b in itertools.pairwise(distances))
    print("grows monotonically as F falls:", monotonic)

    caption = (f"A tiny {SIZE} px fusion model trained from scratch (at F = 1) for {args.steps} steps on {args.faces} "
               f"synthetic cartoon faces, on a CPU, by docs/fidelity_figure.py - not GFPGAN v1.4.\n"
               f"Chart: mean over {args.held_out} held-out faces, each degraded by facefix.quality.degradation "
               f"(blur sigma 1.5, down-sampling 2.5x, noise 6, JPEG 75).")
    make_figure(args.output, to_rgb8(to_tensor(held_out[e].astype(np.float32) / 255)), to_rgb8(lqs[e]),
                [to_rgb8(outputs[f][e]) for f in FIDELITIES], distances, caption)
    total = time.monotonic() - start
    print(f"wrote {args.output} (training {trained - start:.0f} s, total {total:.0f} s)")


if __name__ == "__main__":
    main()
