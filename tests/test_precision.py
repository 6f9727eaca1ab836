"""``--precision auto``: the GPU rule, the CPU probe and its cache, and what restore records."""

from __future__ import annotations

import json
import time

import pytest
import torch

from facefix import precision
from facefix.precision import AUTO, choose_precision

CPU = torch.device("cpu")


def _sleeping_probe(seconds: dict[str, float], built: list[str] | None = None):
    """A probe whose fp32 and bf16 passes take the given times (and that records what it built)."""
    names = {torch.float32: "fp32", torch.bfloat16: "bf16"}

    def build(dtype: torch.dtype):
        name = names[dtype]
        if built is not None:
            built.append(name)
        return lambda: time.sleep(seconds[name])
    return build


def _choose(probe, **kwargs):
    return choose_precision(AUTO, CPU, backend="fusion", model="default weights", fp16_safe=True, cpu_probe=probe,
                            **kwargs)


def test_a_named_precision_is_kept_and_nothing_is_measured():
    def never(dtype):
        raise AssertionError("no probe for an explicit precision")

    for name in ("fp32", "bf16", "fp16"):
        chosen = choose_precision(name, CPU, backend="fusion", model="m", fp16_safe=False, cpu_probe=never)
        assert (chosen.precision, chosen.requested, chosen.probe) == (name, name, None)
        assert chosen.dtype == {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def test_cpu_picks_bf16_only_when_the_probe_measures_it_at_least_1_3x_faster():
    fast = _choose(_sleeping_probe({"fp32": 0.04, "bf16": 0.01}))
    assert fast.precision == "bf16" and fast.probe.speedup > 1.3
    slow = _choose(_sleeping_probe({"fp32": 0.01, "bf16": 0.03}), fresh=True)
    assert slow.precision == "fp32" and slow.probe.speedup < 1.3
    assert "under 1.3x" in slow.describe()


def test_the_probe_is_cached_per_machine_torch_backend_and_model(_isolated_cache):
    built: list[str] = []
    first = _choose(_sleeping_probe({"fp32": 0.04, "bf16": 0.01}, built))
    assert built == ["fp32", "bf16"] and not first.cached

    def never(dtype):
        raise AssertionError("a cached probe must not be measured again")

    again = _choose(never)
    assert again.cached and again.precision == first.precision == "bf16"
    assert again.probe.fp32_seconds == first.probe.fp32_seconds and "cached" in again.describe()

    entries = json.loads((_isolated_cache / precision.PROBE_FILE).read_text())
    (key,) = entries
    assert torch.__version__ in key and "fusion" in key and "default weights" in key
    other_model = choose_precision(AUTO, CPU, backend="fusion", model="my.pth", fp16_safe=True,
                                   cpu_probe=_sleeping_probe({"fp32": 0.01, "bf16": 0.03}))
    assert not other_model.cached and other_model.precision == "fp32"

    fresh = _choose(_sleeping_probe({"fp32": 0.01, "bf16": 0.03}), fresh=True)  # facefix bench measures again
    assert not fresh.cached and fresh.precision == "fp32"


def test_a_damaged_cache_is_measured_again(_isolated_cache):
    (_isolated_cache / precision.PROBE_FILE).write_text("{not json")
    chosen = _choose(_sleeping_probe({"fp32": 0.04, "bf16": 0.01}))
    assert chosen.precision == "bf16" and not chosen.cached
    assert len(json.loads((_isolated_cache / precision.PROBE_FILE).read_text())) == 1


def test_a_backend_too_slow_to_probe_runs_fp32_on_the_cpu():
    chosen = _choose(None)
    assert chosen.precision == "fp32" and chosen.probe is None and "too slow" in chosen.reason


@pytest.mark.parametrize(("bf16", "fp16_safe", "expected"),
                         [(True, False, "bf16"), (False, True, "fp16"), (False, False, "fp32")])
def test_gpu_rule_bf16_then_fp16_where_safe_then_fp32(monkeypatch, bf16, fp16_safe, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)

    def never(dtype):
        raise AssertionError("GPUs are not probed")

    chosen = choose_precision(AUTO, torch.device("cuda"), backend="b", model="m", fp16_safe=fp16_safe,
                              cpu_probe=never)
    assert chosen.precision == expected and chosen.requested == AUTO


def test_choice_is_recorded_as_json():
    chosen = _choose(_sleeping_probe({"fp32": 0.04, "bf16": 0.01}))
    data = json.loads(json.dumps(chosen.to_dict()))
    assert data["precision"] == "bf16" and data["requested"] == "auto"
    assert data["probe"]["speedup"] > 1.3 and data["probe"]["rounds"] == 3
