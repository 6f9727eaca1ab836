"""Reading the images people really have, and writing them back the same way."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facefix.errors import InputError
from facefix.media import Picture, expand_inputs, read_image, write_image


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    image.save(tmp_path / "phone.jpg", exif=exif, quality=100)
    picture = read_image(tmp_path / "phone.jpg")
    assert picture.bgr.shape[:2] == (40, 20)  # portrait after rotation
    assert picture.bgr[:5].mean() > 200 and picture.bgr[-5:].mean() < 50  # white half now on top


def test_cmyk_jpeg_is_converted(tmp_path):
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "print.jpg")
    picture = read_image(tmp_path / "print.jpg")
    assert picture.bgr.shape == (16, 16, 3) and not picture.grayscale
    assert picture.bgr[..., 2].mean() > 200 and picture.bgr[..., 1].mean() < 60  # red


def test_palette_png_with_transparency_keeps_alpha(tmp_path):
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.info["transparency"] = 0
    image.putpixel((0, 0), 0)
    image.save(tmp_path / "icon.png", transparency=0)
    picture = read_image(tmp_path / "icon.png")
    assert picture.alpha is not None and picture.alpha[0, 0] == 0 and picture.alpha[1, 1] == 255


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA"])
def test_round_trip_keeps_mode(tmp_path, mode):
    Image.new(mode, (10, 6), 100 if mode == "L" else (100, 200) if mode == "LA" else (1, 2, 3, 4)).save(
        tmp_path / "in.png")
    picture = read_image(tmp_path / "in.png")
    write_image(tmp_path / "out.png", picture)
    assert Image.open(tmp_path / "out.png").mode == mode


def test_sixteen_bit_jpeg_output_is_scaled_to_eight_bit(tmp_path):
    picture = Picture(np.full((4, 4, 3), 65535, np.uint16), None, False, "PNG")
    write_image(tmp_path / "out.jpg", picture)
    assert np.asarray(Image.open(tmp_path / "out.jpg")).min() >= 254


def test_expand_inputs_reports_what_found_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    found, problems = expand_inputs([str(tmp_path / "empty"), str(tmp_path / "*.png"), str(tmp_path / "zz*.jpg")],
                                    recursive=False)
    assert [f.path.name for f in found] == ["a.png"]
    assert len(problems) == 2 and "no images or videos" in problems[0] and "no file matches" in problems[1]


def test_unreadable_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "missing.png")
