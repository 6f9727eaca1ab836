"""High-quality faces from a folder (or a list file), degraded on the fly into training pairs.

Sample ``i`` of epoch ``e`` is degraded with a generator seeded from ``(seed, e, i)``, so the pairs do
not depend on which worker (or which process) makes them, and a resumed run sees exactly the data it
would have seen.
"""

from __future__ import annotations

import hashlib
import importlib.util
import random
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from facefix.files import write_with
from facefix.errors import FacefixError
from facefix.media import IMAGE_EXTENSIONS
from facefix.quality.degradation import DegradationConfig, degrade


def list_faces(source: str | Path) -> list[Path]:
    """Image files under a folder (recursively), or the paths listed one per line in a text file."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    elif source.is_file():
        files = _read_list(source)
    else:
        raise FacefixError(f"{source}: no such folder or list file")
    if not files:
        raise FacefixError(f"{source}: no training images found")
    return files


def _read_list(list_file: Path) -> list[Path]:
    """Paths one per line (relative ones are relative to the list file; blank lines and ``#`` are skipped)."""
    try:
        lines = list_file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FacefixError(f"{list_file}: cannot read this list file ({exc})") from None
    files = []
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = list_file.parent / entry
        if not path.is_file():
            raise FacefixError(f"{list_file}: line {number}: {entry} is not a file")
        files.append(path)
    return files


def _read_face(path: Path, size: int) -> np.ndarray:
    """A training face as BGR uint8 at ``size`` x ``size``."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FacefixError(f"{path}: cannot read this training image")
    if image.shape[:2] != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return image


# -- per-face landmarks ----------------------------------------------------------------------------------
#: the 5 points (eye centres, nose tip, mouth corners) of the iBUG 68-point layout
_EYES_68 = (slice(36, 42), slice(42, 48))
_NOSE_TIP_68, _MOUTH_CORNERS_68 = 30, (48, 54)
#: where the 5 points go when a face is mirrored (the eyes swap, and the mouth corners)
_MIRRORED_5 = [1, 0, 2, 4, 3]


def five_of_68(points: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners (5, 2) from 68 iBUG points, in the FFHQ template's order."""
    return np.stack([points[_EYES_68[0]].mean(0), points[_EYES_68[1]].mean(0), points[_NOSE_TIP_68],
                     points[_MOUTH_CORNERS_68[0]], points[_MOUTH_CORNERS_68[1]]]).astype(np.float32)


class Landmarks68:
    """dlib's HOG detector and 68-point predictor (shipped in ``face-recognition-models``, no download)."""

    def __init__(self):
        try:
            import dlib
        except ImportError:
            raise FacefixError("68-point landmarks need dlib: pip install 'facefix[offline]'") from None
        spec = importlib.util.find_spec("face_recognition_models")  # its __init__ needs pkg_resources: not imported
        models = Path(next(iter(spec.submodule_search_locations))) / "models" if spec else None
        predictor = models / "shape_predictor_68_face_landmarks.dat" if models else None
        if predictor is None or not predictor.is_file():
            raise FacefixError("68-point landmarks need dlib's predictor: pip install face-recognition-models")
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor))

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        """The 68 points (68, 2) of the face nearest the centre of BGR ``image``, or None if none is found."""
        rgb = np.ascontiguousarray(image[..., ::-1])
        rects = list(self._detector(rgb, 1))
        if not rects:
            return None
        centre = np.array(image.shape[1::-1], dtype=np.float32) / 2
        rect = min(rects, key=lambda r: float(np.hypot((r.left() + r.right()) / 2 - centre[0],
                                                       (r.top() + r.bottom()) / 2 - centre[1])))
        return np.array([[p.x, p.y] for p in self._predictor(rgb, rect).parts()], dtype=np.float32)


def landmarks_cache_dir() -> Path:
    """Where 68-point landmarks of training faces that are not facefix's aligned crops are cached."""
    from facefix import hub

    return hub.cache_dir() / "landmarks68"


def _landmarks_path(face: Path, size: int) -> Path:
    # beside an aligned crop of facefix's cache; under landmarks_cache_dir() for the user's own files
    stat = face.stat()
    key = hashlib.sha256(f"{face.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{size}".encode()).hexdigest()[:32]
    from facefix import hub

    aligned = hub.cache_dir() / "aligned"
    if face.resolve().is_relative_to(aligned.resolve()):
        return face.with_name(f"{face.stem}.landmarks68-{size}.npy")
    return landmarks_cache_dir() / f"{key}.npy"


def face_landmarks(files: list[Path], *, size: int, template: np.ndarray) -> tuple[np.ndarray, int]:
    """Five landmarks (N, 5, 2) per face at ``size`` px, from dlib's 68 points, and how many faces fell
    back to ``template`` (5, 2) because no face was found in them.

    The 68 points are computed once per face and file version and cached (NaN-filled when none was found).
    """
    detector = None
    points = np.empty((len(files), 5, 2), dtype=np.float32)
    fallbacks = 0
    for index, face in enumerate(files):
        cached = _landmarks_path(face, size)
        if cached.exists():
            found = np.load(cached)
        else:
            detector = detector or Landmarks68()
            found = detector(_read_face(face, size))
            found = np.full((68, 2), np.nan, dtype=np.float32) if found is None else found
            write_with(cached, lambda tmp, found=found: np.save(tmp, found), overwrite=True)
        if np.isnan(found).any():
            points[index], fallbacks = template, fallbacks + 1
        else:
            points[index] = five_of_68(found)
    return points, fallbacks


class DegradedFaces(Dataset):
    """Pairs ``{"lq", "gt"}`` of RGB tensors in [0, 1] at ``size`` x ``size`` (``lq`` is ``gt`` when
    ``degradation`` is None, for methods that make their own inputs, like inpainting); with ``landmarks``
    (N, 5, 2) in pixels of the ``size`` image, also ``"landmarks"`` (mirrored with the face)."""

    def __init__(self, files: list[Path], *, size: int, degradation: DegradationConfig | None, seed: int = 0,
                 flip: bool = True, landmarks: np.ndarray | None = None):
        self.files, self.size, self.degradation, self.seed, self.flip = files, size, degradation, seed, flip
        self.landmarks = landmarks
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        gt = _read_face(self.files[index], self.size).astype(np.float32) / 255.0
        flipped = rng.random() < 0.5 and self.flip
        if flipped:
            gt = gt[:, ::-1]
        gt = np.ascontiguousarray(gt)
        lq = gt if self.degradation is None else degrade(gt, rng, self.degradation)

        def to_tensor(bgr: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(bgr[..., ::-1])).permute(2, 0, 1).float()

        sample = {"lq": to_tensor(lq), "gt": to_tensor(gt)}
        if self.landmarks is not None:
            points = self.landmarks[index].copy()
            if flipped:
                points[:, 0] = self.size - 1 - points[:, 0]
                points = points[_MIRRORED_5]
            sample["landmarks"] = torch.from_numpy(points)
        return sample


def _seed_worker(worker_id: int) -> None:
    # The DataLoader seeds torch in each worker from its own generator; numpy's and random's global
    # state get the same seed, so a library drawing from them in a worker is reproducible too.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def batch_loader(dataset: DegradedFaces, indices: list[int], *, batch_size: int, workers: int, pin_memory: bool,
                 seed: tuple[int, ...]) -> DataLoader:
    """Batches of ``dataset[indices]`` in that order, made by ``workers`` processes (0: this one).

    The loader draws its workers' seeds from a generator seeded with ``seed``, never from torch's global
    random state, which belongs to the recipe (and is restored exactly on resume).
    """
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence(list(seed)).generate_state(1)[0]))
    return DataLoader(Subset(dataset, indices), batch_size=batch_size, num_workers=workers, pin_memory=pin_memory,
                      worker_init_fn=_seed_worker, generator=generator)
