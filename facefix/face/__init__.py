"""Finding faces, aligning them to the FFHQ template, and pasting restored faces back."""

from facefix.face.align import align_face, estimate_affine, ffhq_template
from facefix.face.detect import DetectedFace, FaceDetector, load_detector
from facefix.face.paste import inverse_affine, paste_face

__all__ = ["DetectedFace", "FaceDetector", "align_face", "estimate_affine", "ffhq_template", "inverse_affine",
           "load_detector", "paste_face"]
