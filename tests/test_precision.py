"""``--precision auto``: the GPU rule, the CPU probe and its cache, and what restore records."""

from __future__ import annotations

import json
import time

import pytest
import torch

from facefix import precision
from facefix.backends.base import Restorer
from facefix.precision import AUTO, choose_precision

pytestmark = pytest.mark.real_precision_probe  # the probe itself, not the conftest's stand-in

CPU = torch.device("cpu")


def _timed_backend(seconds: dict[str, float], name: str = "timed", built: list[str] | None = None):
    """A backend class whose probe network takes the given time per pass in fp32 and bf16."""
    names = {torch.float32: "fp32", torch.bfloat16: "bf16"}

    class Timed(Restorer):
        fp16_safe = bf16_safe = True
        precision_probe_config = {"face_size": 8}

        @classmethod
        def from_state_dict(cls, state_dict, *, config, device, dtype, options):
            raise NotImplementedError

        @classmethod
        def from_config(cls, config=None, *, device="cpu", dtype=torch.float32, options=None):
            assert config == cls.precision_probe_config and options.steps == precision.PROBE_STEPS
            if built is not None:
                built.append(names[dtype])
            return cls(face_size=config["face_size"], device=torch.device(device), dtype=dtype, options=options)

        def restore(self, faces):
            assert faces.shape == (1, 3, 8, 8)
            time.sleep(seconds[names[self.dtype]])
            return faces

    Timed.name = name
    return Timed


def _choose(cls, **kwargs):
    return choose_precision(AUTO, cls, CPU, **kwargs)


def test_a_named_precision_is_kept_and_nothing_is_measured():
    built: list[str] = []
    for name in ("fp32", "bf16", "fp16"):
        chosen = choose_precision(name, _timed_backend({}, built=built), CPU)
        assert not built
        assert (chosen.precision, chosen.requested, chosen.probe) == (name, name, None)
        assert chosen.dtype == {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def test_cpu_picks_bf16_only_when_the_probe_measures_it_at_least_1_3x_faster():
    fast = _choose(_timed_backend({"fp32": 0.04, "bf16": 0.01}))
    assert fast.precision == "bf16" and fast.probe.speedup > 1.3
    slow = _choose(_timed_backend({"fp32": 0.01, "bf16": 0.03}), fresh=True)
    assert slow.precision == "fp32" and slow.probe.speedup < 1.3
    assert "under 1.3x" in slow.describe()


def test_the_probe_is_cached_per_machine_torch_and_backend(_isolated_cache):
    built: list[str] = []
    first = _choose(_timed_backend({"fp32": 0.04, "bf16": 0.01}, built=built))
    assert built == ["fp32", "bf16"] and not first.cached

    again = _choose(_timed_backend({"fp32": 0.01, "bf16": 0.04}, built=built))
    assert built == ["fp32", "bf16"], "a cached probe must not be measured again"
    assert again.cached and again.precision == first.precision == "bf16"
    assert again.probe.fp32_seconds == first.probe.fp32_seconds and "cached" in again.describe()

    entries = json.loads((_isolated_cache / precision.PROBE_FILE).read_text())
    (key,) = entries
    assert torch.__version__ in key and key.endswith('timed | {"face_size": 8}')
    other = _choose(_timed_backend({"fp32": 0.01, "bf16": 0.03}, name="other"))
    assert not other.cached and other.precision == "fp32"

    fresh = _choose(_timed_backend({"fp32": 0.01, "bf16": 0.03}), fresh=True)  # facefix bench measures again
    assert not fresh.cached and fresh.precision == "fp32"
    assert _choose(_timed_backend({"fp32": 0.04, "bf16": 0.01})).precision == "fp32"  # the fresh result is kept


def test_the_probe_runs_on_one_thread_and_gives_the_threads_back():
    threads = torch.get_num_threads()
    seen = []

    class OneThread(_timed_backend({"fp32": 0.0, "bf16": 0.0})):
        def restore(self, faces):
            seen.append(torch.get_num_threads())
            return faces

    _choose(OneThread)
    assert set(seen) == {1} and torch.get_num_threads() == threads


def test_a_damaged_cache_is_measured_again(_isolated_cache):
    (_isolated_cache / precision.PROBE_FILE).write_text("{not json")
    chosen = _choose(_timed_backend({"fp32": 0.04, "bf16": 0.01}))
    assert chosen.precision == "bf16" and not chosen.cached
    (key,) = json.loads((_isolated_cache / precision.PROBE_FILE).read_text())
    (_isolated_cache / precision.PROBE_FILE).write_text(json.dumps({key: {"speed": 2}}))
    assert not _choose(_timed_backend({"fp32": 0.04, "bf16": 0.01})).cached
    assert len(json.loads((_isolated_cache / precision.PROBE_FILE).read_text())) == 1


def test_a_backend_too_slow_to_probe_runs_fp32_on_the_cpu():
    unprobed = _timed_backend({})
    unprobed.precision_probe_config = None
    chosen = _choose(unprobed)
    assert chosen.precision == "fp32" and chosen.probe is None and "too slow" in chosen.reason


def test_a_backend_outside_the_bf16_gate_runs_fp32_on_the_cpu_unprobed():
    built: list[str] = []
    unsafe = _timed_backend({}, built=built)
    unsafe.bf16_safe = False
    chosen = _choose(unsafe)
    assert chosen.precision == "fp32" and not built and "quality gate" in chosen.reason


@pytest.mark.parametrize(("bf16", "bf16_safe", "fp16_safe", "expected"),
                         [(True, True, False, "bf16"), (True, False, True, "fp16"), (False, True, True, "fp16"),
                          (False, True, False, "fp32"), (True, False, False, "fp32")])
def test_gpu_rule_bf16_then_fp16_where_safe_then_fp32(monkeypatch, bf16, bf16_safe, fp16_safe, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    built: list[str] = []
    backend = _timed_backend({}, built=built)
    backend.bf16_safe, backend.fp16_safe = bf16_safe, fp16_safe
    chosen = choose_precision(AUTO, backend, torch.device("cuda"))
    assert chosen.precision == expected and chosen.requested == AUTO and not built  # GPUs are not probed


def test_choice_is_recorded_as_json():
    chosen = _choose(_timed_backend({"fp32": 0.04, "bf16": 0.01}))
    data = json.loads(json.dumps(chosen.to_dict()))
    assert data["precision"] == "bf16" and data["requested"] == "auto"
    assert data["probe"]["speedup"] > 1.3 and data["probe"]["rounds"] == 3
