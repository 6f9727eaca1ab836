"""``--precision auto``: the fastest precision that stays within the quality gate on this device.

* GPU: bf16 where the device supports it, else fp16 where the backend is fp16-safe (its fragile sums
  kept in fp32), else fp32. No measurement: tensor cores make both at least twice as fast as fp32.
* CPU: measured. bf16 runs at native speed only where the processor has bf16 instructions (AVX512-BF16,
  AMX); elsewhere oneDNN emulates it and it can be slower than fp32. So a short probe times a small
  random-weight network of the backend's architecture (``precision_probe_config``) on one face, fp32 and
  bf16 in turn (A B A B ...), and picks bf16 when its median is at least :data:`BF16_MIN_SPEEDUP` times
  faster. The result is cached in facefix's cache folder per machine, processor, torch version and
  backend, so only the first run pays for it (seconds).

The quality gate (tests/test_precision_quality.py) holds bf16 within 1.5 grey levels mean and 12 at
the 99.9th percentile of fp32 on real faces for every backend the probe can pick it for.
"""

from __future__ import annotations

import contextlib
import json
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from facefix import files
from facefix.backends.base import Inpainter, RestoreOptions
from facefix.bench import medians, time_interleaved
from facefix.device import PRECISIONS, resolve_dtype
from facefix.errors import FacefixError
from facefix.hub import cache_dir

AUTO = "auto"
#: bf16 must be at least this much faster than fp32 on the CPU to be picked
BF16_MIN_SPEEDUP = 1.3
PROBE_FILE = "precision-probe.json"
#: sampling steps of a diffusion model during the probe (its time per step is what matters)
PROBE_STEPS = 2

@dataclass(frozen=True)
class ProbeResult:
    """Median seconds of one forward pass in fp32 and bf16 on this CPU."""

    fp32_seconds: float
    bf16_seconds: float
    rounds: int
    measured: str  # UTC time of the measurement

    @property
    def speedup(self) -> float:
        return self.fp32_seconds / self.bf16_seconds


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # fp32 | fp16 | bf16
    requested: str  # what the user asked for (auto or one of the above)
    reason: str
    probe: ProbeResult | None = None
    cached: bool = False

    @property
    def dtype(self) -> torch.dtype:
        return PRECISIONS[self.precision]

    def describe(self) -> str:
        if self.requested != AUTO:
            return f"precision: {self.precision}"
        return f"precision: {self.precision} (auto: {self.reason})"

    def to_dict(self) -> dict:
        data = {"precision": self.precision, "requested": self.requested, "reason": self.reason}
        if self.probe is not None:
            data["probe"] = {**asdict(self.probe), "speedup": round(self.probe.speedup, 3), "cached": self.cached}
        return data


def choose_precision(requested: str, cls, device: torch.device, *, fresh: bool = False) -> PrecisionChoice:
    """Resolve ``requested`` (``auto``, ``fp32``, ``fp16`` or ``bf16``) for the backend class ``cls`` (a
    :class:`~facefix.backends.base.Restorer` or :class:`~facefix.backends.base.Inpainter`) on ``device``.

    ``fresh`` measures the CPU probe again even when a cached result exists (``facefix bench``).
    """
    if requested != AUTO:
        resolve_dtype(requested)  # validates
        return PrecisionChoice(requested, requested, "requested")
    if device.type == "cpu":
        return _choose_on_cpu(cls, fresh)
    bf16 = _supports_bf16(device)
    if bf16 and cls.bf16_safe:
        return PrecisionChoice("bf16", AUTO, f"{device.type} supports bf16")
    if cls.fp16_safe:
        why = f"{cls.name} is not bf16-safe" if bf16 else f"{device.type} has no bf16"
        return PrecisionChoice("fp16", AUTO, f"{why}; {cls.name} is fp16-safe")
    return PrecisionChoice("fp32", AUTO, f"{cls.name} is safe in neither {'bf16 nor ' if bf16 else ''}fp16"
                           + ("" if bf16 else f" ({device.type} has no bf16)"))


def _supports_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:  # MPS has bf16 from macOS 14 on; asking is the only reliable test
        (torch.ones(2, device=device, dtype=torch.bfloat16) * 2).cpu()
    except (RuntimeError, TypeError):
        return False
    return True


def _choose_on_cpu(cls, fresh: bool) -> PrecisionChoice:
    if not cls.bf16_safe:
        return PrecisionChoice("fp32", AUTO, f"bf16 is outside the quality gate for {cls.name}")
    if cls.precision_probe_config is None:
        return PrecisionChoice("fp32", AUTO, f"the {cls.name} backend is too slow on the CPU to probe")
    key = probe_key(cls.name, cls.precision_probe_config)
    cached = None if fresh else _cached_probe(key)
    probe = cached or measure(cls)
    if not cached:
        _write_cache(key, probe)
    picked = "bf16" if probe.speedup >= BF16_MIN_SPEEDUP else "fp32"
    comparison = "at least" if picked == "bf16" else "under"
    reason = (f"bf16 ran {probe.speedup:.2f}x the speed of fp32 on this CPU ({comparison} {BF16_MIN_SPEEDUP}x)"
              + ("; cached probe" if cached else ""))
    return PrecisionChoice(picked, AUTO, reason, probe, cached=bool(cached))


def measure(cls, *, rounds: int = 3) -> ProbeResult:
    """Median seconds per forward pass of the backend's probe network in fp32 and bf16: one warm-up each,
    then interleaved, on one thread (a busy machine stalls multi-threaded passes at every barrier, which
    hides the difference between the two; the instructions' speed is what is compared)."""
    candidates = {"fp32": _probe_pass(cls, torch.float32), "bf16": _probe_pass(cls, torch.bfloat16)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        middle = medians(time_interleaved(candidates, rounds=rounds))
    finally:
        torch.set_num_threads(threads)
    return ProbeResult(fp32_seconds=middle["fp32"], bf16_seconds=middle["bf16"], rounds=rounds,
                       measured=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def _probe_pass(cls, dtype: torch.dtype) -> Callable[[], object]:
    """One face through a random-weight network of ``cls.precision_probe_config`` (nothing downloaded)."""
    model = cls.from_config(cls.precision_probe_config, device="cpu", dtype=dtype,
                            options=RestoreOptions(seed=0, steps=PROBE_STEPS))
    size = model.face_size
    face = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    if isinstance(model, Inpainter):
        mask = torch.zeros(1, 1, size, size)
        mask[..., size // 4:3 * size // 4, size // 4:3 * size // 4] = 1
        return lambda: model.inpaint(face, mask)
    return lambda: model.restore(face)


def probe_key(backend: str, probe_config: Mapping) -> str:
    """What the probe's answer depends on: the machine, its processor, torch, the backend (and the network
    it times, so that a changed probe measures again)."""
    return " | ".join([platform.node(), _cpu_model(), f"torch {torch.__version__}", backend,
                       json.dumps(probe_config, sort_keys=True)])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cache_path() -> Path:
    return cache_dir() / PROBE_FILE


def _read_cache() -> dict[str, dict]:
    try:
        data = json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}  # absent or damaged: measure again
    return data if isinstance(data, dict) else {}


def _cached_probe(key: str) -> ProbeResult | None:
    try:
        return ProbeResult(**_read_cache()[key])
    except (KeyError, TypeError):  # not measured yet, or an entry of another shape: measure again
        return None


def _write_cache(key: str, probe: ProbeResult) -> None:
    """Add ``probe`` under ``key`` (through the project's writer: a reader never sees half a file). A cache
    that cannot be written only costs a new probe next time."""
    entries = {**_read_cache(), key: asdict(probe)}
    with contextlib.suppress(OSError, FacefixError):
        files.write_bytes(_cache_path(), json.dumps(entries, indent=2), overwrite=True)


__all__ = ["AUTO", "BF16_MIN_SPEEDUP", "PROBE_STEPS", "PrecisionChoice", "ProbeResult", "choose_precision", "measure",
           "probe_key"]
