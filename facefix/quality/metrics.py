"""Image-quality metrics, each with its direction and the convention it follows.

Conventions follow VQFR/basicsr unless stated: images are uint8 BGR arrays (H, W, 3) as OpenCV reads
them; PSNR/SSIM on all three channels (``y_channel=True`` for basicsr's Y of YCbCr); NIQE with basicsr's
shipped parameters on the Y channel. Network-based metrics load their weights through facefix's hub.
"""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import numpy as np
import torch

from facefix._compat import import_basicsr
from facefix.quality.metric_table import METRICS, NIQE_BLOCK, MetricInfo  # noqa: F401 - re-exported


def psnr(image: np.ndarray, reference: np.ndarray, *, y_channel: bool = False) -> float:
    return float(import_basicsr("metrics").calculate_psnr(image, reference, 0, test_y_channel=y_channel))


def ssim(image: np.ndarray, reference: np.ndarray, *, y_channel: bool = False) -> float:
    return float(import_basicsr("metrics").calculate_ssim(image, reference, 0, test_y_channel=y_channel))


def niqe(image: np.ndarray) -> float:
    """NIQE, or NaN for images with fewer than two 96-px blocks (reported, and left out of means):
    with one block the covariance is undefined and basicsr's computation fails."""
    if (image.shape[0] // NIQE_BLOCK) * (image.shape[1] // NIQE_BLOCK) < 2:
        return float("nan")
    return float(import_basicsr("metrics.niqe").calculate_niqe(image, 0, input_order="HWC", convert_to="y"))


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 BGR -> float RGB (1, 3, H, W) in [0, 1]."""
    return torch.from_numpy(image[..., ::-1].astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(device)


class LPIPSMetric:
    """LPIPS (VGG, v0.1). The linear heads ship with the ``lpips`` package; the VGG-16 backbone comes
    from our hub (``metrics.vgg16``) instead of torchvision's own download."""

    def __init__(self, device: torch.device | str = "cpu", *, pretrained: bool = True):
        import lpips

        self.device = torch.device(device)
        self.model = lpips.LPIPS(net="vgg", version="0.1", pnet_rand=True, verbose=False)
        if pretrained:
            from facefix import hub

            self._load_backbone(hub.load_state_dict(hub.fetch("metrics.vgg16")))
        self.model = self.model.to(self.device).eval()

    def _load_backbone(self, torchvision_state: dict[str, torch.Tensor]) -> None:
        # lpips splits torchvision's vgg16().features into slices that keep the layer indices as names.
        mapped = {}
        for name, _ in self.model.net.named_parameters():
            index_and_param = name.split(".", 1)[1]  # "slice2.5.weight" -> "5.weight"
            mapped[name] = torchvision_state[f"features.{index_and_param}"]
        self.model.net.load_state_dict(mapped)

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, reference: np.ndarray) -> float:
        a, b = _to_tensor(image, self.device), _to_tensor(reference, self.device)
        return float(self.model(a * 2 - 1, b * 2 - 1).item())


class IdentityMetric:
    """Angle (degrees) between ArcFace embeddings: 0 for the same face, ~90 for unrelated ones."""

    def __init__(self, device: torch.device | str = "cpu", *, pretrained: bool = True):
        from facefix.quality.losses import IdentityLoss

        self.device = torch.device(device)
        self.arcface = IdentityLoss(pretrained=pretrained).to(self.device)

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, reference: np.ndarray) -> float:
        a = self.arcface.embed(_to_tensor(image, self.device)).double()
        b = self.arcface.embed(_to_tensor(reference, self.device)).double()
        # 2 atan2(|a - b|, |a + b|) is the angle between unit vectors, accurate near 0 where arccos is not.
        angle = 2 * torch.atan2((a - b).norm(dim=1), (a + b).norm(dim=1))
        return float(torch.rad2deg(angle).item())


class InceptionFeatures:
    """pytorch-fid's InceptionV3 (pool3, 2048-d) with its weights from our hub."""

    def __init__(self, device: torch.device | str = "cpu", *, pretrained: bool = True):
        from pytorch_fid import inception
        from torchvision.models import Inception3

        state_dict = None
        #: names the feature extractor in cached reference statistics (random weights never share a cache entry)
        self.tag = "pytorch-fid-inception-v3-pool3" if pretrained else "random-inception"
        if pretrained:
            from facefix import hub

            state_dict = hub.load_state_dict(hub.fetch("metrics.inception-fid"))
        # pytorch-fid downloads inside its constructor: hand it the verified file from our cache instead
        # (or, for tests, keep the random initialisation).
        with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state_dict), \
                mock.patch.object(Inception3, "load_state_dict", _keep_random_init if state_dict is None
                                  else Inception3.load_state_dict):
            self.model = inception.InceptionV3([3], resize_input=True, normalize_input=True, use_fid_inception=True)
        self.device = torch.device(device)
        self.model = self.model.to(self.device).eval()

    @torch.inference_mode()
    def __call__(self, images: list[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """Features of ``images`` (rows, in order); images of different sizes go in separate batches
        (the network resizes each to 299 px itself)."""
        features, batch = [], []
        for image in images:
            if batch and (image.shape != batch[0].shape or len(batch) == batch_size):
                features.append(self._features(batch))
                batch = []
            batch.append(image)
        if batch:
            features.append(self._features(batch))
        return np.concatenate(features)

    def _features(self, images: list[np.ndarray]) -> np.ndarray:
        batch = torch.cat([_to_tensor(i, self.device) for i in images])
        return self.model(batch)[0].flatten(1).double().cpu().numpy()


def _keep_random_init(module, state_dict, *args, **kwargs):
    return None


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of Inception features (rows are samples), as FID uses them."""
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance_between(mean: np.ndarray, cov: np.ndarray, reference_mean: np.ndarray,
                             reference_cov: np.ndarray) -> float:
    from pytorch_fid.fid_score import calculate_frechet_distance

    return float(calculate_frechet_distance(mean, cov, reference_mean, reference_cov))


def frechet_distance(features: np.ndarray, reference: np.ndarray) -> float:
    """FID between two sets of Inception features (rows are samples)."""
    return frechet_distance_between(*feature_statistics(features), *feature_statistics(reference))


PairMetric = Callable[[np.ndarray, np.ndarray], float]
