"""The wheel ships the checkpoint registry (TOML only) and no weight files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.skip(f"cannot build the wheel here (pip needs hatchling from PyPI): {result.stderr[-300:]}")
    (path,) = out.glob("facefix-*.whl")
    return path


def test_wheel_contains_the_registry_and_nothing_else_from_weights(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.startswith("facefix/weights/"))
    expected = sorted(f"facefix/weights/{p.name}" for p in (REPO / "weights").glob("*.toml"))
    assert shipped == expected
    assert not any(n.endswith((".pth", ".pt", ".safetensors", ".bin", ".ckpt")) for n in names)
    assert "facefix/cli.py" in names
