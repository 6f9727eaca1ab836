"""Finding faces, aligning them to the FFHQ template, and pasting restored faces back."""

from __future__ import annotations

#: --detector name -> registry id of its weights (None: needs no download)
DETECTORS = {"retinaface_resnet50": "face.retinaface-resnet50",
             "retinaface_mobile0.25": "face.retinaface-mobile0.25",
             "dlib": None}

# Loaded on first use: option tables (detector names) are read without importing torch or cv2.
_LAZY = {"align_face": "align", "estimate_affine": "align", "ffhq_template": "align", "DetectedFace": "detect",
         "FaceDetector": "detect", "load_detector": "detect", "inverse_affine": "paste", "paste_face": "paste"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"facefix.face.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DETECTORS", "DetectedFace", "FaceDetector", "align_face", "estimate_affine", "ffhq_template",
           "inverse_affine", "load_detector", "paste_face"]
