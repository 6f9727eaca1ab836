"""Make PyPI's basicsr 1.4.2 importable with torchvision >= 0.17.

basicsr 1.4.2 (the newest release on PyPI) imports ``torchvision.transforms.functional_tensor``, a
private module torchvision removed in 0.17. The one function it takes from there,
``rgb_to_grayscale``, still exists in ``torchvision.transforms.functional``. We register a module
under the old name that forwards to it; nothing in basicsr is patched. Import basicsr only through
:func:`import_basicsr` (or after importing this module).
"""

from __future__ import annotations

import importlib
import sys
import types


def _register_functional_tensor() -> None:
    name = "torchvision.transforms.functional_tensor"
    if name in sys.modules:
        return
    try:
        importlib.import_module(name)
    except ImportError:
        from torchvision.transforms import functional

        stand_in = types.ModuleType(name)
        stand_in.rgb_to_grayscale = functional.rgb_to_grayscale
        sys.modules[name] = stand_in


def import_basicsr(submodule: str = ""):
    """Import ``basicsr`` (or ``basicsr.<submodule>``) with the stand-in in place."""
    _register_functional_tensor()
    return importlib.import_module("basicsr" + (f".{submodule}" if submodule else ""))


_register_functional_tensor()
