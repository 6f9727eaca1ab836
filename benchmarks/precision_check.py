"""bf16 and fp16 against fp32 on the golden configs, on any device: mean difference in grey levels
(of 255) and whether any output is not finite. The speed issue asks for < 2 grey levels, no NaNs.

    python benchmarks/precision_check.py --device cuda --reference ../shared/reference
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from facefix.backends.base import RestoreOptions
from facefix.backends.ddpm import DDPMInpainter
from facefix.backends.fusion import FusionRestorer
from facefix.backends.mmrb import MMRBRestorer
from facefix.device import resolve_device


def _restore_with(cls, golden: dict, device: torch.device):
    faces = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) if cls is FusionRestorer \
        else (golden["input"] + 1) / 2

    def run(dtype: torch.dtype) -> torch.Tensor:
        restorer = cls.from_state_dict(golden["state_dict"], config=None, device=device, dtype=dtype,
                                       options=RestoreOptions())
        return restorer.restore(faces.to(device)).float().cpu()
    return run


def _inpaint_with(golden: dict, device: torch.device):
    size = golden["inputs"]["x"].shape[-1]
    faces = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    masks = torch.zeros(2, 1, size, size)
    masks[..., size // 4:3 * size // 4, size // 4:3 * size // 4] = 1
    config = {"num_head_channels": golden["config"]["num_head_channels"], "size": size}

    def run(dtype: torch.dtype) -> torch.Tensor:
        inpainter = DDPMInpainter.from_state_dict(golden["state_dict"], config=config, device=device, dtype=dtype,
                                                  options=RestoreOptions(seed=0, steps=5))
        return inpainter.inpaint(faces.to(device), masks.to(device)).float().cpu()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--reference", type=Path, default=Path("../shared/reference"))
    args = parser.parse_args()
    device = resolve_device(args.device)

    def golden(name: str) -> dict:
        return torch.load(args.reference / name, weights_only=True)

    checks = {"fusion (gfpgan_clean_small)": _restore_with(FusionRestorer, golden("gfpgan_clean_small.golden.pt"),
                                                           device),
              "mmrb (gpen_small)": _restore_with(MMRBRestorer, golden("gpen_small.golden.pt"), device),
              "ddpm (palette_unet_small, 5 steps)": _inpaint_with(golden("palette_unet_small.golden.pt"), device)}
    print(f"mean |reduced - fp32| in grey levels on {device}")
    for name, run in checks.items():
        reference = run(torch.float32)
        for dtype in (torch.bfloat16, torch.float16):
            out = run(dtype)
            grey = (out - reference).abs().mean().item() * 255
            finite = bool(torch.isfinite(out).all())
            print(f"{name:36s} {str(dtype).removeprefix('torch.'):9s} {grey:6.3f}  finite: {finite}")


if __name__ == "__main__":
    main()
