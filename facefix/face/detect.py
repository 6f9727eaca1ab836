"""Face detectors: RetinaFace (facexlib's network, our weights) and dlib's HOG detector (no download).

Every detector returns :class:`DetectedFace` records in descending score order, with five landmarks in
the FFHQ template's order (left eye, right eye, nose, left mouth corner, right mouth corner); a
detector that lacks a point fills it with NaN and alignment leaves it out.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from facefix.errors import FacefixError
from facefix.face import DETECTORS

if TYPE_CHECKING:  # torch and cv2 load with the first detector, not with `facefix --help`
    import torch

#: FaceRestoreHelper's threshold (RetinaFace's own default of 0.8 lets through many false faces)
SCORE_THRESHOLD = 0.97
NMS_THRESHOLD = 0.4
#: longest side detection runs at; larger images are detected on a downscaled copy
DETECTION_MAX_SIDE = 1600


@dataclass(frozen=True)
class DetectedFace:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in image pixels
    landmarks: np.ndarray  # (5, 2) in image pixels; NaN rows for points the detector lacks
    score: float

    def to_json(self) -> dict:
        return {"box": [round(float(v), 2) for v in self.box],
                "landmarks": [[None if np.isnan(v) else round(float(v), 2) for v in point]
                              for point in self.landmarks],
                "score": round(float(self.score), 4)}


class FaceDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Faces in a BGR uint8 image, best first."""


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale == 1.0:
        return image, 1.0
    import cv2

    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


class RetinaFaceDetector:
    """RetinaFace (ResNet-50 or MobileNet-0.25) with weights from our cache or a given file."""

    def __init__(self, state_dict: dict[str, torch.Tensor], *, network: str, device: torch.device,
                 max_side: int = DETECTION_MAX_SIDE):
        from facexlib.detection.retinaface import RetinaFace

        with warnings.catch_warnings():  # torchvision's deprecation notes about facexlib's `pretrained=`
            warnings.simplefilter("ignore", UserWarning)
            self.model = RetinaFace(network_name=network, half=False, device=device)
        missing, unexpected = self.model.load_state_dict(state_dict, strict=False)
        # Old checkpoints predate BatchNorm's num_batches_tracked counter, which inference never reads.
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise FacefixError(f"RetinaFace {network}: checkpoint does not match "
                               f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        self.model.eval()
        self.max_side = max_side

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        import torch

        small, scale = _downscale(image, self.max_side)
        with torch.inference_mode():
            rows = self.model.detect_faces(small, conf_threshold=SCORE_THRESHOLD, nms_threshold=NMS_THRESHOLD,
                                           use_origin_size=True)
        return [DetectedFace(box=row[:4] / scale, landmarks=row[5:15].reshape(5, 2) / scale, score=float(row[4]))
                for row in rows]


def _dlib_model_dir() -> Path:
    # face_recognition_models' __init__ imports pkg_resources, which modern setuptools no longer has,
    # so find its data folder without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FacefixError("--detector dlib needs the offline extra: pip install 'facefix[offline]'")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibDetector:
    """dlib's HOG face detector with its CC0 5-point landmark model: works with no download.

    The 5-point model gives two corners per eye and the base of the nose, no mouth; eye centres and
    the nose base (with its own calibrated template point) align within the noise of RetinaFace.
    """

    def __init__(self, upsample: int = 1, max_side: int = DETECTION_MAX_SIDE):
        try:
            import dlib
        except ImportError:
            raise FacefixError("--detector dlib needs the offline extra: pip install 'facefix[offline]'") from None
        predictor = _dlib_model_dir() / "shape_predictor_5_face_landmarks.dat"
        if not predictor.is_file():
            raise FacefixError(f"{predictor}: dlib's 5-point model is missing; reinstall face-recognition-models")
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor))
        self._rectangle = dlib.rectangle
        self.upsample = upsample
        self.max_side = max_side

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        small, scale = _downscale(image, self.max_side)
        rgb = np.ascontiguousarray(small[..., ::-1])
        rects, scores, _ = self._detector.run(rgb, self.upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores):
            shape = self._predictor(rgb, rect)
            points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
            # dlib 5-point order: right eye outer/inner (image left), left eye outer/inner, nose base.
            landmarks = np.full((5, 2), np.nan, dtype=np.float32)
            landmarks[0] = points[2:4].mean(axis=0)
            landmarks[1] = points[0:2].mean(axis=0)
            landmarks[2] = points[4]
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], dtype=np.float32)
            faces.append(DetectedFace(box=box / scale, landmarks=landmarks / scale, score=float(score)))
        return sorted(faces, key=lambda f: -f.score)


#: a key only each RetinaFace backbone has -> (its network name in facexlib, its --detector name)
_RETINAFACE_KEYS = {"body.conv1.weight": ("resnet50", "retinaface_resnet50"),
                    "body.stage1.0.0.weight": ("mobile0.25", "retinaface_mobile0.25")}


def retinaface_network(state_dict: Mapping[str, object], path: Path) -> tuple[str, str]:
    """The backbone a RetinaFace weight file was trained with, read from its keys: (network, --detector)."""
    for key, network in _RETINAFACE_KEYS.items():
        if key in state_dict:
            return network
    raise FacefixError(f"{path}: not a RetinaFace weight file (neither resnet50 nor mobilenet0.25 keys); "
                       "use a retinaface .pth, or --detector dlib")


def load_detector(name: str = "retinaface_resnet50", weights: str | Path | None = None,
                  device: torch.device | str = "cpu") -> FaceDetector:
    """A detector by name; RetinaFace weights come from ``weights`` or the cache (downloaded once).

    A given weight file picks its own backbone (resnet50 or mobilenet0.25), whatever ``name`` says,
    as ``--weights`` does for the restorers.
    """
    import torch

    from facefix import hub
    from facefix.registry import get_checkpoint

    if name not in DETECTORS:
        raise FacefixError(f"unknown detector {name!r} (choose from {', '.join(DETECTORS)})")
    if name == "dlib":
        return DlibDetector()
    checkpoint = get_checkpoint(DETECTORS[name])
    # a failed download carries its checkpoint id: the command line adds --detector-weights and --detector dlib
    path = Path(weights) if weights else hub.fetch(checkpoint)
    if not path.is_file():
        raise FacefixError(f"{path}: detector weights not found")
    state_dict = hub.load_state_dict(path)
    network = retinaface_network(state_dict, path)[0] if weights else checkpoint.config["network"]
    return RetinaFaceDetector(state_dict, network=network, device=torch.device(device))
