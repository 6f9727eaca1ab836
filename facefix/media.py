"""Reading and writing the images people really have, without ever losing their files.

* EXIF orientation is applied; CMYK and palette images are converted; grayscale stays grayscale;
  alpha is carried through; 16-bit PNG/TIFF stay 16-bit.
* Outputs are written to a hidden temporary name in the target folder and renamed when complete, so
  an interrupted run never leaves a partial file under the final name.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facefix.errors import InputError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".avi", ".webm"}
# Large scans are real; decompression bombs beyond ~400 MP are not.
Image.MAX_IMAGE_PIXELS = 400_000_000
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


@dataclass
class Picture:
    """A decoded image: 3-channel BGR pixels plus what is needed to write it back the same way."""

    bgr: np.ndarray  # HxWx3, uint8 or uint16
    alpha: np.ndarray | None  # HxW, same dtype, or None
    grayscale: bool
    format: str  # PIL format name of the source, e.g. "PNG", "JPEG"

    @property
    def max_value(self) -> int:
        return 65535 if self.bgr.dtype == np.uint16 else 255

    @property
    def size(self) -> tuple[int, int]:
        return self.bgr.shape[1], self.bgr.shape[0]


def _exif_rotation_code(pil: Image.Image) -> int | None:
    orientation = pil.getexif().get(0x0112, 1)
    return {3: cv2.ROTATE_180, 6: cv2.ROTATE_90_CLOCKWISE, 8: cv2.ROTATE_90_COUNTERCLOCKWISE}.get(orientation)


def _read_sixteen_bit(path: Path, pil: Image.Image) -> Picture:
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise InputError(path, "cannot decode this 16-bit image")
    rotation = _exif_rotation_code(pil)
    if rotation is not None:
        pixels = cv2.rotate(pixels, rotation)
    if pixels.dtype != np.uint16:
        pixels = pixels.astype(np.uint16)
    if pixels.ndim == 2:
        return Picture(cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR), None, True, pil.format or "PNG")
    alpha = pixels[..., 3] if pixels.shape[2] == 4 else None
    return Picture(np.ascontiguousarray(pixels[..., :3]), alpha, False, pil.format or "PNG")


def read_image(path: str | Path) -> Picture:
    """Decode an image file; any problem is an :class:`InputError` naming the file."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a directory, not an image")
    try:
        if path.stat().st_size == 0:
            raise InputError(path, "empty file")
        with Image.open(path) as pil:
            if getattr(pil, "n_frames", 1) > 1:
                raise InputError(path, f"animated {pil.format} ({pil.n_frames} frames): convert it to a video "
                                 "or extract the frames first")
            if pil.mode in _SIXTEEN_BIT_MODES or _is_sixteen_bit(path, pil):
                return _read_sixteen_bit(path, pil)
            pil = ImageOps.exif_transpose(pil)
            pil.load()
            return _from_pil(pil)
    except InputError:
        raise
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise InputError(path, "not an image or video (or a format that cannot be read)"
                         if isinstance(exc, UnidentifiedImageError) else str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"corrupt or truncated image ({exc})") from None


def _is_sixteen_bit(path: Path, pil: Image.Image) -> bool:
    """PIL silently reduces 16-bit RGB(A) files to 8 bits, so read the depth from the header."""
    if pil.format == "PNG":
        with path.open("rb") as f:
            header = f.read(25)
        return len(header) == 25 and header[24] == 16  # IHDR bit depth
    if pil.format == "TIFF":
        bits = pil.tag_v2.get(258, (8,))
        return 16 in (bits if isinstance(bits, tuple) else (bits,))
    return False


def _from_pil(pil: Image.Image) -> Picture:
    fmt = pil.format or "PNG"
    if pil.mode == "P":
        pil = pil.convert("RGBA" if "transparency" in pil.info else "RGB")
    if pil.mode in ("1", "L"):
        gray = np.asarray(pil.convert("L"))
        return Picture(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), None, True, fmt)
    if pil.mode == "LA":
        gray, alpha = (np.asarray(band) for band in pil.split())
        return Picture(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), np.array(alpha), True, fmt)
    alpha = np.array(pil.getchannel("A")) if pil.mode in ("RGBA", "PA") else None
    rgb = np.asarray(pil.convert("RGB"))
    return Picture(np.ascontiguousarray(rgb[..., ::-1]), alpha, False, fmt)


def write_image(path: str | Path, picture: Picture, *, quality: int = 95) -> None:
    """Write ``picture`` atomically in the format of ``path``'s extension.

    Grayscale sources are written as grayscale, alpha is kept where the format has it, and 16-bit
    depth is kept for PNG and TIFF (8-bit formats get the value scaled down).
    """
    path = Path(path)
    ext = path.suffix.lower()
    pixels = picture.bgr
    if picture.grayscale:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    sixteen_ok = ext in (".png", ".tif", ".tiff")
    alpha = picture.alpha
    if pixels.dtype == np.uint16 and not sixteen_ok:
        pixels = (pixels.astype(np.float32) / 257.0).round().astype(np.uint8)
        alpha = None if alpha is None else (alpha.astype(np.float32) / 257.0).round().astype(np.uint8)
    if alpha is not None and ext in (".png", ".tif", ".tiff", ".webp"):
        color = pixels if pixels.ndim == 3 else cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
        pixels = np.dstack([color, alpha.astype(pixels.dtype)])
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
    tmp = path.with_name(f".{path.stem}.facefix-partial{ext}")
    gray_with_alpha = picture.grayscale and pixels.ndim == 3 and pixels.shape[2] == 4 and pixels.dtype == np.uint8
    try:
        if gray_with_alpha:  # OpenCV cannot write 2-channel images; PIL can
            Image.fromarray(np.dstack([pixels[..., 0], pixels[..., 3]]), "LA").save(tmp)
        elif not cv2.imwrite(str(tmp), pixels, params):
            raise InputError(path, "cannot write this image format")
        os.replace(tmp, path)
    except cv2.error as exc:
        raise InputError(path, f"cannot write ({exc.msg if hasattr(exc, 'msg') else exc})") from None
    except OSError as exc:
        raise InputError(path.parent, f"cannot write output ({exc.strerror})") from None
    finally:
        tmp.unlink(missing_ok=True)


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class InputFile:
    path: Path
    relative: Path  # where it goes under the output folder


def expand_inputs(specs: list[str], *, recursive: bool) -> tuple[list[InputFile], list[str]]:
    """Files named, found in folders, or matched by globs; plus one message per spec that found nothing.

    Files from a folder keep their path relative to it, so ``--recursive`` reproduces the tree.
    """
    found: list[InputFile] = []
    problems: list[str] = []
    wanted = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in wanted)
            found += [InputFile(p, p.relative_to(path)) for p in files]
            if not files:
                problems.append(f"{path}: no images or videos in this folder"
                                + ("" if recursive else " (use --recursive for sub-folders)"))
        elif path.exists() or path.is_symlink():
            found.append(InputFile(path, Path(path.name)))
        elif glob.has_magic(spec):
            matches = sorted(Path(p) for p in glob.glob(spec, recursive=recursive) if Path(p).is_file())
            found += [InputFile(p, Path(p.name)) for p in matches]
            if not matches:
                problems.append(f"{spec}: no file matches this pattern")
        else:
            problems.append(f"{path}: no such file or folder")
    return found, problems
