"""Device and precision choices shared by every command, and the memory layout of weights.

Memory measurement and batch sizing live in :mod:`facefix.memory`, allocator tuning in
:mod:`facefix.allocator`.
"""

from __future__ import annotations

import torch

from facefix.errors import FacefixError

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FacefixError(f"--device {name}: CUDA is not available on this machine")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise FacefixError("--device mps: Apple MPS is not available on this machine")
    return torch.device(name)


def resolve_dtype(precision: str) -> torch.dtype:
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise FacefixError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}") from None


def to_memory_format(module: torch.nn.Module, memory_format: torch.memory_format) -> torch.nn.Module:
    """Store the 4-D weights of ``module`` in ``memory_format``.

    ``Module.to(memory_format=...)`` cannot be used: it refuses modules holding 5-D parameters, such as
    StyleGAN2's modulated convolution weights.
    """
    for parameter in module.parameters():
        if parameter.dim() == 4:
            parameter.data = parameter.data.contiguous(memory_format=memory_format)
    return module
