"""Evaluation runs: images read as the metrics take them, faces restored and inpainted through the batching engine."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from PIL import Image
from restorers import BrightenRestorer

from facefix.eval.inpaint import inpaint_samples
from facefix.eval.runner import Sample, read_face, restore_samples


def _samples(count: int, size: int = 64) -> list[Sample]:
    rng = np.random.default_rng(0)
    return [Sample(f"{i}.png", rng.integers(0, 256, (size, size, 3), dtype=np.uint8), None) for i in range(count)]


def test_auto_batch_size_restores_the_same_faces_as_a_fixed_one():
    restorer = BrightenRestorer.load()
    fixed, auto = _samples(5), _samples(5)
    restore_samples(restorer, fixed, batch_size=2)
    restore_samples(restorer, auto, batch_size=None)
    for a, b in zip(fixed, auto):
        assert a.output.dtype == np.uint8 and np.array_equal(a.output, b.output)
        assert not np.array_equal(a.output, a.input)


class _SmallMemoryInpainter:
    """Fills holes with mid-grey; runs out of device memory above two faces per call."""

    name = "grey"

    def __init__(self):
        self.device, self.dtype, self.face_size, self.calls = torch.device("cpu"), torch.float32, 64, []

    def inpaint(self, faces: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        self.calls.append(faces.shape[0])
        if faces.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return faces * (1 - masks) + 0.5 * masks


def test_inpainting_halves_the_batch_on_out_of_memory_and_keeps_known_pixels():
    samples, inpainter = _samples(5), _SmallMemoryInpainter()
    masks = [np.zeros((64, 64), np.uint8) for _ in samples]
    for mask in masks:
        mask[16:48, 16:48] = 1
    inputs = [sample.input.copy() for sample in samples]
    inpaint_samples(inpainter, samples, masks, batch_size=4)
    assert inpainter.calls == [4, 2, 2, 1]
    for sample, original in zip(samples, inputs):
        assert np.array_equal(sample.output[:16], original[:16])  # outside the hole: the input exactly
        assert (sample.output[16:48, 16:48] == 128).all()


def test_eval_images_are_eight_bit_bgr_upright_and_resized(tmp_path):
    sixteen = np.zeros((8, 12, 3), np.uint16)
    sixteen[..., 2] = 0xAB00  # red, high byte 0xAB
    cv2.imwrite(str(tmp_path / "deep.png"), sixteen)
    image = read_face(tmp_path / "deep.png")
    assert image.dtype == np.uint8 and image.shape == (8, 12, 3) and (image[..., 2] == 0xAB).all()
    assert read_face(tmp_path / "deep.png", 16).shape == (16, 16, 3)

    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, :5] = 255  # white on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: portrait, white on top
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    upright = read_face(tmp_path / "rotated.jpg")
    assert upright.shape == (20, 10, 3) and upright[:4].mean() > 200 and upright[-4:].mean() < 50
