"""The glibc allocator setting for CPU inference."""

from __future__ import annotations

import sys

import pytest

from facefix.allocator import keep_freed_cpu_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt() only")
def test_cpu_allocator_setting_takes_effect_on_glibc():
    assert keep_freed_cpu_memory() is True
