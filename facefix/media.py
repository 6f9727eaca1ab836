"""Reading and writing the images people really have, without ever losing their files.

* EXIF orientation is applied; CMYK and palette images are converted; grayscale stays grayscale;
  alpha is carried through; 16-bit PNG/TIFF stay 16-bit.
* Outputs are written through :mod:`facefix.files` (complete or not at all, never over an existing file
  unless asked). A picture nothing changed is written as a byte copy of its file; JPEG outputs keep the
  source's EXIF and ICC profile and its quality.
* Decompression bombs are refused before decoding (:data:`pixel_limit`, ``--max-megapixels``); MPO camera
  JPEGs are read as their main frame; 32-bit float TIFFs (0..1) become 16-bit.
"""

from __future__ import annotations

import glob
import io
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facefix import files
from facefix.limits import DEFAULT_MEGAPIXELS
from facefix.errors import InputError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".avi", ".webm"}
#: pixels read_image accepts; ``limit_pixels`` changes it
pixel_limit = DEFAULT_MEGAPIXELS * 1_000_000
Image.MAX_IMAGE_PIXELS = None  # our own check, with a message that says how to lift it
_DEEP_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}


@dataclass
class Picture:
    """A decoded image: 3-channel BGR pixels plus what is needed to write it back the same way."""

    bgr: np.ndarray  # HxWx3, uint8 or uint16
    alpha: np.ndarray | None  # HxW, same dtype, or None
    grayscale: bool
    format: str  # PIL format name of the source, e.g. "PNG", "JPEG"
    path: Path | None = None  # the file it was read from
    exif: bytes | None = field(default=None, repr=False)  # orientation already applied (tag reset to 1)
    icc: bytes | None = field(default=None, repr=False)
    quality: int | None = None  # the source JPEG's quality, estimated from its quantization tables

    @property
    def max_value(self) -> int:
        return 65535 if self.bgr.dtype == np.uint16 else 255

    @property
    def size(self) -> tuple[int, int]:
        return self.bgr.shape[1], self.bgr.shape[0]


# The JPEG standard's example luminance table (ITU T.81, Annex K): encoders scale it by the quality.
_STANDARD_LUMINANCE = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69,
                       56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104,
                       113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
_DEFAULT_JPEG_QUALITY = 95


def limit_pixels(megapixels: float) -> None:
    """Set the largest image :func:`read_image` decodes (``--max-megapixels``)."""
    global pixel_limit
    pixel_limit = int(megapixels * 1_000_000)


def jpeg_quality(pil: Image.Image) -> int | None:
    """The IJG quality (1-100) whose scaled standard table is closest to the file's luminance table."""
    tables = getattr(pil, "quantization", None) or {}
    if 0 not in tables or len(tables[0]) != 64:
        return None
    total = sum(tables[0])  # order-independent: PIL's table order changed across versions

    def scaled_total(quality: int) -> int:
        scale = 5000 // quality if quality < 50 else 200 - 2 * quality
        return sum(min(max((value * scale + 50) // 100, 1), 255) for value in _STANDARD_LUMINANCE)

    return min(range(1, 101), key=lambda quality: abs(scaled_total(quality) - total))


def _metadata(pil: Image.Image) -> dict:
    exif = Image.Exif()  # a copy: the image's own EXIF still says how to turn the pixels
    if pil.info.get("exif"):
        exif.load(pil.info["exif"])
    if exif.get(0x0112, 1) != 1:
        exif[0x0112] = 1  # the pixels are turned upright on reading
    return {"exif": exif.tobytes() if len(exif) else None, "icc": pil.info.get("icc_profile"),
            "quality": jpeg_quality(pil) if pil.format in ("JPEG", "MPO") else None}


def _exif_rotation_code(pil: Image.Image) -> int | None:
    orientation = pil.getexif().get(0x0112, 1)
    return {3: cv2.ROTATE_180, 6: cv2.ROTATE_90_CLOCKWISE, 8: cv2.ROTATE_90_COUNTERCLOCKWISE}.get(orientation)


def _read_unchanged(path: Path, pil: Image.Image) -> np.ndarray:
    """16-bit and float pixels, which PIL reduces or cannot read, decoded by OpenCV, upright."""
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise InputError(path, f"cannot decode this {pil.format} image")
    rotation = _exif_rotation_code(pil)
    return pixels if rotation is None else cv2.rotate(pixels, rotation)


def _float_to_sixteen_bit(path: Path, pixels: np.ndarray) -> np.ndarray:
    """Float images hold 0..1 (as TIFF writers store them): scaled to the full 16-bit range."""
    finite = np.isfinite(pixels).all()
    low, high = (float(pixels.min()), float(pixels.max())) if finite and pixels.size else (0.0, 0.0)
    if not finite or low < 0 or high > 1:
        raise InputError(path, f"floating-point image with values outside 0..1 (from {low:g} to {high:g}, or "
                         "NaN): an HDR image; convert it to 16-bit first")
    return np.rint(pixels * 65535.0).astype(np.uint16)


def _deep_picture(path: Path, pixels: np.ndarray, fmt: str, metadata: dict) -> Picture:
    """A :class:`Picture` of 16-bit or float pixels decoded by OpenCV (BGR, gray or BGRA)."""
    if pixels.dtype.kind == "f":
        pixels = _float_to_sixteen_bit(path, pixels)
    elif pixels.dtype != np.uint16:
        pixels = pixels.astype(np.uint16)
    if pixels.ndim == 2:
        return Picture(cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR), None, True, fmt, path, **metadata)
    alpha = pixels[..., 3] if pixels.shape[2] == 4 else None
    return Picture(np.ascontiguousarray(pixels[..., :3]), alpha, False, fmt, path, **metadata)


def _check_size(path: Path, pil: Image.Image) -> None:
    width, height = pil.size
    if width * height > pixel_limit:
        raise InputError(path, f"{width} x {height} pixels ({width * height / 1e6:.0f} MP) is above the "
                         f"{pixel_limit / 1e6:g} MP limit that guards against decompression bombs; "
                         "--max-megapixels raises it")


def read_image(path: str | Path) -> Picture:
    """Decode an image file; any problem is an :class:`InputError` naming the file."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, "is a directory, not an image")
    try:
        if path.stat().st_size == 0:
            raise InputError(path, "empty file")
        with Image.open(path) as pil:
            _check_size(path, pil)
            # a camera JPEG with a preview frame (MPO) is one photo: its first frame
            if getattr(pil, "n_frames", 1) > 1 and pil.format != "MPO":
                raise InputError(path, f"animated {pil.format} ({pil.n_frames} frames): convert it to a video "
                                 "or extract the frames first")
            metadata = _metadata(pil)
            if pil.mode in _DEEP_MODES or _is_deep(path, pil):
                return _deep_picture(path, _read_unchanged(path, pil), pil.format or "PNG", metadata)
            pil = ImageOps.exif_transpose(pil)
            pil.load()
            return _from_pil(pil, path, metadata)
    except InputError:
        raise
    except PermissionError:
        raise InputError(path, "permission denied") from None
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except UnidentifiedImageError:
        if path.suffix.lower() in (".tif", ".tiff"):  # float RGB TIFFs: PIL cannot, OpenCV can
            return _read_tiff_with_opencv(path)
        raise InputError(path, "not an image or video (or a format that cannot be read)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(path, f"corrupt or truncated image ({exc})") from None


def _read_tiff_with_opencv(path: Path) -> Picture:
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype.kind not in "uf":
        raise InputError(path, "not an image or video (or a format that cannot be read)")
    return _deep_picture(path, pixels, "TIFF", {})


def _is_deep(path: Path, pil: Image.Image) -> bool:
    """PIL silently reduces 16-bit RGB(A) files to 8 bits (and float ones fail), so read the header."""
    if pil.format == "PNG":
        with path.open("rb") as f:
            header = f.read(25)
        return len(header) == 25 and header[24] == 16  # IHDR bit depth
    if pil.format == "TIFF":
        bits = pil.tag_v2.get(258, (8,))
        sample_format = pil.tag_v2.get(339, (1,))
        return 16 in (bits if isinstance(bits, tuple) else (bits,)) or \
            3 in (sample_format if isinstance(sample_format, tuple) else (sample_format,))  # 3 = IEEE float
    return False


def _from_pil(pil: Image.Image, path: Path, metadata: dict) -> Picture:
    fmt = pil.format or "PNG"
    if pil.mode == "P":
        pil = pil.convert("RGBA" if "transparency" in pil.info else "RGB")
    if pil.mode in ("1", "L"):
        gray = np.asarray(pil.convert("L"))
        return Picture(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), None, True, fmt, path, **metadata)
    if pil.mode == "LA":
        gray, alpha = (np.asarray(band) for band in pil.split())
        return Picture(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), np.array(alpha), True, fmt, path, **metadata)
    alpha = np.array(pil.getchannel("A")) if pil.mode in ("RGBA", "PA") else None
    rgb = np.asarray(pil.convert("RGB"))
    return Picture(np.ascontiguousarray(rgb[..., ::-1]), alpha, False, fmt, path, **metadata)


def _unchanged(picture: Picture, source: Picture | None, ext: str) -> bool:
    """``picture`` is ``source``'s pixels, to be written in ``source``'s own format."""
    if source is None or source.path is None or source.path.suffix.lower() != ext:
        return False
    if picture is source:
        return True
    same_alpha = (picture.alpha is None) == (source.alpha is None) and \
        (picture.alpha is None or np.array_equal(picture.alpha, source.alpha))
    return picture.grayscale == source.grayscale and same_alpha and np.array_equal(picture.bgr, source.bgr)


def encode_image(ext: str, picture: Picture, *, like: Picture | None = None) -> bytes:
    """The bytes of ``picture`` in the format of ``ext``; JPEGs take EXIF, ICC and quality from ``like``.

    Grayscale sources are written as grayscale, alpha is kept where the format has it, and 16-bit
    depth is kept for PNG and TIFF (8-bit formats get the value scaled down)."""
    ext = ext.lower()
    pixels = picture.bgr
    if picture.grayscale:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    alpha = picture.alpha
    if pixels.dtype == np.uint16 and ext not in (".png", ".tif", ".tiff"):
        pixels = (pixels.astype(np.float32) / 257.0).round().astype(np.uint8)
        alpha = None if alpha is None else (alpha.astype(np.float32) / 257.0).round().astype(np.uint8)
    if ext in (".jpg", ".jpeg"):
        return _encode_jpeg(pixels, like)
    if alpha is not None and ext in (".png", ".tif", ".tiff", ".webp"):
        color = pixels if pixels.ndim == 3 else cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
        pixels = np.dstack([color, alpha.astype(pixels.dtype)])
        if picture.grayscale and pixels.dtype == np.uint8:  # OpenCV cannot write 2-channel images; PIL can
            buffer = io.BytesIO()
            Image.fromarray(np.dstack([pixels[..., 0], pixels[..., 3]]), "LA").save(buffer, format="PNG")
            return buffer.getvalue()
    ok, encoded = cv2.imencode(ext, pixels)
    if not ok:
        raise ValueError(f"OpenCV cannot encode {ext}")
    return encoded.tobytes()


def _encode_jpeg(pixels: np.ndarray, like: Picture | None) -> bytes:
    pil = Image.fromarray(pixels if pixels.ndim == 2 else np.ascontiguousarray(pixels[..., ::-1]))
    extra = {}
    if like is not None and like.exif:
        extra["exif"] = like.exif
    if like is not None and like.icc:
        extra["icc_profile"] = like.icc
    quality = (like.quality if like is not None and like.quality else None) or _DEFAULT_JPEG_QUALITY
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=quality, **extra)
    return buffer.getvalue()


def write_image(path: str | Path, picture: Picture, *, like: Picture | None = None, overwrite: bool = False,
                protected: Collection[Path] = ()) -> Path:
    """Write ``picture`` as the new file ``path`` (format from the extension); returns the name used
    (shortened if the file system needs it).

    ``like`` is the picture it was made from: when nothing changed, the output is a byte copy of its
    file (EXIF and all); otherwise JPEGs keep its EXIF, ICC profile and quality. An existing ``path``
    is replaced only with ``overwrite``, an input (``protected``) never."""
    path = Path(path)
    if _unchanged(picture, like, path.suffix.lower()):
        return files.copy_file(like.path, path, overwrite=overwrite, protected=protected)
    try:
        data = encode_image(path.suffix, picture, like=like)
    except (cv2.error, ValueError, OSError) as exc:
        raise InputError(path, f"cannot encode this image as {path.suffix or 'an image'} ({exc})") from None
    return files.write_bytes(path, data, overwrite=overwrite, protected=protected)

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
