"""Whole photos in, whole photos out: ``facefix restore`` against GFPGAN's own script logic, on the CPU.

The baseline does, per photo, what GFPGAN's ``inference_gfpgan.py`` makes ``GFPGANer.enhance`` and
facexlib's ``FaceRestoreHelper`` do (written here from the facts in ``shared/reference/GFPGAN_NOTES.md``
and ``FACEXLIB_NOTES.md``; none of their code): read with OpenCV, detect at the original size, align
each face (LMEDS similarity, grey border), restore the faces one at a time in fp32 with GFPGANv1Clean,
turn each back into 8-bit, then paste every face with whole-frame warps, erosions and a blur onto the
Lanczos-upscaled photo, and write it. Only the restored photo is written (the script also writes the
crops, the restored faces and a comparison per face, so the real script is slower than this baseline).

The candidate is facefix's runner exactly as ``facefix restore`` runs it by default: ``--precision
auto`` (the cached CPU probe), ``--batch-size auto``, decoding and detection ahead on a second thread,
encoding behind on a third, bounded paste.

Both get the same RetinaFace (mobile0.25 weights from ../shared) and the same random weights of the
real 512 px GFPGAN v1.4 architecture: the baseline runs GFPGANv1Clean as facefix's ``FusionGFPGAN``
without fusion blocks in NCHW, which computes what upstream's network computes, op for op
(``benchmarks/against_gfpgan.py``: facefix's copy takes 0.84x upstream's time channels-last and the
same NCHW); facefix runs its fusion backend (fusion blocks at their identity start). Neither parses
the face by default (GFPGANer does, with ParseNet; ``--parse`` gives both a random-weight ParseNet).
The two run A B A B ... in one process over the same photos; medians of the seconds per round.

    python benchmarks/against_gfpgan_pipeline.py \\
        --detector-weights ../shared/data/weights/detection_mobilenet0.25_Final.pth \\
        ../shared/data/real/CodeFormer/inputs/whole_imgs/04.jpg ../shared/data/real/GFPGAN/inputs/whole_imgs/00.jpg
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from facefix.backends.fusion import FusionGFPGAN, FusionRestorer
from facefix.bench import medians, time_interleaved
from facefix.face.detect import NMS_THRESHOLD, SCORE_THRESHOLD, load_detector
from facefix.face.parse import FaceParser
from facefix.media import expand_inputs
from facefix.memory import auto_batch_limit
from facefix.pipeline import FaceRestorePipeline
from facefix.precision import AUTO, choose_precision
from facefix.runner import OutputOptions, restore_files

#: facexlib's 5-point FFHQ template for 512 px crops and the grey it fills outside the photo with
TEMPLATE_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                         [201.26117, 371.41043], [313.08905, 371.15118]], np.float32)
BORDER_GREY = (135, 133, 132)
MIN_EYE_DISTANCE = 5


class GFPGANScript:
    """One photo at a time, one face at a time, pasted with whole-frame operations."""

    def __init__(self, network: FusionGFPGAN, retinaface, upscale: float, parser: FaceParser | None):
        self.network, self.retinaface, self.upscale, self.parser = network, retinaface, upscale, parser
        self.noise = network.stylegan_decoder.noise_maps(1, None, False)
        self.seconds: dict[str, float] = defaultdict(float)  # per stage, over every call

    def landmarks(self, image: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            rows = self.retinaface.detect_faces(image, conf_threshold=SCORE_THRESHOLD, nms_threshold=NMS_THRESHOLD,
                                                use_origin_size=True)
        points = [row[5:15].reshape(5, 2).astype(np.float32) for row in rows]
        return [p for p in points if np.linalg.norm(p[0] - p[1]) >= MIN_EYE_DISTANCE]

    def restore_face(self, crop: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(crop[..., ::-1]).astype(np.float32) / 255).permute(2, 0, 1)
        x = ((x - 0.5) / 0.5).unsqueeze(0)
        with torch.no_grad():
            image = self.network(x, noise=self.noise).image[0]
        rgb = ((image.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
        return np.round(rgb[..., ::-1] * 255).astype(np.uint8)

    def paste(self, canvas: np.ndarray, face: np.ndarray, affine: np.ndarray) -> np.ndarray:
        height, width = canvas.shape[:2]
        inverse = cv2.invertAffineTransform(affine) * self.upscale
        if self.upscale > 1:
            inverse[:, 2] += 0.5 * self.upscale
        warped = cv2.warpAffine(face, inverse, (width, height)).astype(np.float32)
        if self.parser is not None:
            soft = cv2.warpAffine(self.parser.blend_mask(face, 255), inverse, (width, height))[..., None]
            return soft * warped + (1 - soft) * canvas
        coverage = cv2.warpAffine(np.ones(face.shape[:2], np.float32), inverse, (width, height))
        side = int(2 * self.upscale)
        eroded = cv2.erode(coverage, np.ones((side, side), np.uint8))
        edge = int(np.sqrt(eroded.sum())) // 20
        centre = cv2.erode(eroded, np.ones((2 * edge, 2 * edge), np.uint8))
        soft = cv2.GaussianBlur(centre, (2 * edge + 1, 2 * edge + 1), 0)[..., None]
        return soft * (warped * eroded[..., None]) + (1 - soft) * canvas

    def _timed(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - started
        return now

    def __call__(self, source: Path, target: Path) -> int:
        started = time.perf_counter()
        image = cv2.imread(str(source), cv2.IMREAD_COLOR)
        started = self._timed("read", started)
        found = self.landmarks(image)
        started = self._timed("detect", started)
        restored = []
        for points in found:
            affine = cv2.estimateAffinePartial2D(points, TEMPLATE_512, method=cv2.LMEDS)[0]
            crop = cv2.warpAffine(image, affine, (512, 512), borderMode=cv2.BORDER_CONSTANT, borderValue=BORDER_GREY)
            restored.append((self.restore_face(crop), affine))
        started = self._timed("restore", started)
        height, width = image.shape[:2]
        size = (int(width * self.upscale), int(height * self.upscale))
        canvas = cv2.resize(image, size, interpolation=cv2.INTER_LANCZOS4).astype(np.float32)
        for face, affine in restored:
            canvas = self.paste(canvas, face, affine)
        started = self._timed("paste", started)
        cv2.imwrite(str(target), canvas.astype(np.uint8))  # facexlib truncates, as here
        self._timed("write", started)
        return len(restored)


def _networks(seed: int, dtype: torch.dtype) -> tuple[FusionGFPGAN, FusionRestorer]:
    """The baseline's GFPGANv1Clean (NCHW, fp32) and facefix's restorer, sharing random weights."""
    torch.manual_seed(seed)
    restorer = FusionRestorer.from_config(None)
    state = {k: v for k, v in restorer.network.state_dict().items() if not k.startswith("fusion_blocks.")}
    baseline = FusionGFPGAN(replace(restorer.network.config, num_fusion_blocks=0)).eval()
    baseline.load_state_dict({k: v.contiguous() for k, v in state.items()}, strict=True)
    if dtype != torch.float32:
        restorer = FusionRestorer(restorer.network, device=torch.device("cpu"), dtype=dtype, options=restorer.options)
    return baseline, restorer


def _mean_difference(first: Path, second: Path) -> float:
    pairs = [(cv2.imread(str(a)), cv2.imread(str(second / a.name))) for a in sorted(first.iterdir())]
    return float(np.mean([np.abs(a.astype(np.float32) - b).mean() for a, b in pairs]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="whole photos")
    parser.add_argument("--detector-weights", type=Path, required=True, help="RetinaFace mobile0.25 weights")
    parser.add_argument("--upscale", type=float, default=2, help="GFPGAN's default -s 2")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parse", action="store_true", help="both paste with a (random-weight) ParseNet mask")
    parser.add_argument("--json", type=Path, help="also write the raw times here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    items, problems = expand_inputs(args.inputs, recursive=False)
    if problems or not items:
        raise SystemExit("; ".join(problems) or "no inputs")
    cpu = torch.device("cpu")
    chosen = choose_precision(AUTO, FusionRestorer, cpu)
    print(chosen.describe())
    baseline_network, restorer = _networks(0, chosen.dtype)
    detector = load_detector("retinaface_mobile0.25", weights=args.detector_weights)
    face_parser = None
    if args.parse:
        from facexlib.parsing.parsenet import ParseNet

        face_parser = FaceParser(ParseNet(in_size=512, out_size=512, parsing_ch=19).state_dict(), cpu)
    script = GFPGANScript(baseline_network, detector.model, args.upscale, face_parser)
    pipeline = FaceRestorePipeline(restorer, detector, upscale=args.upscale, batch_size=None, parser=face_parser)
    workdir = Path(tempfile.mkdtemp(prefix="facefix_vs_gfpgan_"))
    (workdir / "gfpgan").mkdir()
    faces: dict[str, int] = {}
    stages: dict[str, float] = defaultdict(float)  # facefix's, from its reports

    def gfpgan_script() -> None:
        faces["gfpgan-script"] = sum(script(item.path, workdir / "gfpgan" / item.path.name) for item in items)

    def facefix_restore() -> None:
        reports = restore_files(items, pipeline, OutputOptions(output_dir=workdir / "facefix", overwrite=True),
                                images_per_batch=max(4, auto_batch_limit(cpu)))
        failed = [report.error for report in reports if report.status == "failed"]
        if failed:
            raise SystemExit(f"facefix failed: {failed}")
        faces["facefix"] = sum(len(report.faces) for report in reports)
        for report in reports:
            for stage, seconds in report.seconds.items():
                stages[stage] += seconds

    started = time.perf_counter()
    times = time_interleaved({"gfpgan-script": gfpgan_script, "facefix": facefix_restore}, rounds=args.rounds)
    middle = medians(times)
    photos = len(items)
    print(f"{photos} photos, {faces['facefix']} faces (the baseline found {faces['gfpgan-script']}); upscale "
          f"{args.upscale}, parse {'on' if args.parse else 'off'}; fusion 512 px random weights; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; {args.rounds} interleaved rounds after one "
          f"warm-up ({time.perf_counter() - started:.0f} s in all), medians:")
    calls = args.rounds + 1  # the stage totals include the warm-up round
    for name, seconds in middle.items():
        runs = ", ".join(f"{t:.1f}" for t in times[name])
        split = script.seconds if name == "gfpgan-script" else stages
        where = ", ".join(f"{stage} {total / calls / photos:.2f}" for stage, total in split.items())
        print(f"  {name:>13}: {seconds / photos:7.2f} s per photo  (rounds: {runs} s; per photo: {where})")
    print(f"  facefix restore takes {middle['facefix'] / middle['gfpgan-script']:.2f}x the time of GFPGAN's script "
          f"logic per photo ({middle['gfpgan-script'] / middle['facefix']:.2f}x its speed); mean |difference| of "
          f"the photos {_mean_difference(workdir / 'facefix', workdir / 'gfpgan'):.2f} / 255")
    if args.json:
        args.json.write_text(json.dumps({"choice": chosen.to_dict(), "seconds": times, "faces": faces,
                                         "stages": {"gfpgan-script": script.seconds, "facefix": stages}}, indent=2))


if __name__ == "__main__":
    main()
