"""Inpainting evaluation: mask faces, fill the holes, score the whole composited image.

Two kinds of sets:
* clean faces (no ``--gt``): each face is masked here (``center``: the middle half of each side, 25 % of
  the area; ``random``: free-form strokes covering 20-30 %, seeded per image), then inpainted, and scored
  against the clean face, as the seed paper (001) does on CelebA-HQ;
* pairs (``--gt``): the inputs are already masked; the masks are their pure-white pixels (``white``) or
  files of the same stem in a folder (non-zero = hole), or again ``center``/``random``.

Faces are scored at the model's size, uint8, on the full image: outside the hole the output is the
input exactly, so PSNR/SSIM reflect the filled pixels diluted by the known ones, as the paper reports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facefix.backends.base import Inpainter
from facefix.batching import Batches
from facefix.console import progress
from facefix.errors import FacefixError
from facefix.eval.runner import Sample, read_face
from facefix.face.masks import center_mask, find_mask_file, mask_at_size, random_mask, read_mask, white_mask
from facefix.inpainting import composite, inpaint_crops

#: random mask of image ``i`` is drawn from ``default_rng([MASK_SEED, i])``
MASK_SEED = 2025
GENERATED_MASKS = ("center", "random")
#: holes are shown (and fed to the model) as pure white, CodeFormer's convention
HOLE_VALUE = 255


def _mask_from_file(spec: Path, source: Path) -> np.ndarray:
    found = find_mask_file(spec, source)
    if found is None:
        raise FacefixError(f"{source}: no mask named {source.stem}.* in {spec}")
    try:
        return read_mask(found, read_face(source).shape[:2])
    except ValueError as exc:
        raise FacefixError(f"{found}: {exc}") from None


def make_mask(spec: str, index: int, size: int, source: Path) -> np.ndarray:
    """The hole (1 = fill) of image ``index`` at the model's size; ``source`` is the file as given."""
    if spec == "center":
        return center_mask(size, size)
    if spec == "random":
        return random_mask(np.random.default_rng([MASK_SEED, index]), size, size)
    if spec == "white":
        original = read_face(source)
        return mask_at_size(white_mask(original), size)
    return mask_at_size(_mask_from_file(Path(spec), source), size)


def check_mask_spec(spec: str, has_gt: bool) -> None:
    if spec == "white" and not has_gt:
        raise FacefixError("--mask white reads the holes from masked inputs: pass their clean faces with --gt")
    if spec not in (*GENERATED_MASKS, "white") and not Path(spec).is_dir():
        raise FacefixError(f"--mask {spec}: not center, random, white, or a folder of masks")


def mask_samples(samples: list[Sample], spec: str, size: int, dataset: Path) -> list[np.ndarray]:
    """Mask every sample's input in place (holes pure white); returns the masks, in order.

    Clean-face sets carry the clean face as ``reference`` already (see :func:`clean_faces_as_samples`).
    """
    masks = []
    for index, sample in enumerate(samples):
        mask = make_mask(spec, index, size, dataset / sample.name)
        if not mask.any():
            raise FacefixError(f"{dataset / sample.name}: its mask is empty (nothing to inpaint)")
        masked = sample.input.copy()
        masked[mask.astype(bool)] = HOLE_VALUE
        sample.input = masked
        masks.append(mask)
    return masks


def clean_faces_as_samples(samples: list[Sample]) -> None:
    """Without ``--gt`` the set's faces are the ground truth; their copies get masked."""
    for sample in samples:
        sample.reference = sample.input.copy()


def inpaint_samples(inpainter: Inpainter, samples: list[Sample], masks: list[np.ndarray],
                    batch_size: int | None = 4) -> None:
    """Fill the holes (chunks of ``batch_size``; ``None``: sized as ``--batch-size auto``); sets ``output`` =
    the input outside the hole, the model's pixels inside (uint8)."""
    inputs = [sample.input for sample in samples]
    with progress(transient=True) as bar:
        task = bar.add_task("inpainting faces", total=len(samples), status="")
        batches = Batches(inpainter.device, batch_size, name=inpainter.name)
        filled = inpaint_crops(inpainter, inputs, masks, 255, batches, on_chunk=lambda count: bar.advance(task, count))
    for sample, hole, face in zip(samples, masks, filled):
        sample.output = composite(sample.input, face, hole)
