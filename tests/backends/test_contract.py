"""The contract every registered backend keeps, checked over the backend table (a new row is covered here
without touching this file): built tiny from its ``tiny_config`` with random weights, written to a file
and read back through its own loader, it restores (or inpaints) a batch of two faces in the documented
layout, deterministically, in the dtype and on the device it was asked for.
"""

from __future__ import annotations

import pytest
import torch

from facefix import hub
from facefix.backends import RestoreOptions, backend_class, inpainter_class, inpainter_names, restorer_names

ROLES = [(name, "restorer") for name in restorer_names()] + [(name, "inpainter") for name in inpainter_names()]
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks on a shared 2-core machine run fastest without thread hand-offs
    yield
    torch.set_num_threads(threads)


def _model_class(name: str, role: str):
    return backend_class(name) if role == "restorer" else inpainter_class(name)


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    """backend, role -> a file of random tiny weights, written from the backend's own ``weights_file()``."""
    folder, files = tmp_path_factory.mktemp("weights"), {}

    def file_of(name: str, role: str):
        if (name, role) not in files:
            cls = _model_class(name, role)
            assert cls.tiny_config is not None, f"{cls.__name__}: set tiny_config (the contract tests build it)"
            torch.manual_seed(0)
            weights, metadata = cls.from_config(cls.tiny_config).weights_file()
            # zero-initialised layers (identity starts, output convolutions) get small values: every path counts
            noise = torch.Generator().manual_seed(1)
            weights = {key: (0.02 * torch.randn(value.shape, generator=noise)).to(value.dtype)
                       if value.is_floating_point() and not value.any() else value for key, value in weights.items()}
            files[name, role] = hub.save_state_dict(weights, folder / f"{name}-{role}.safetensors", metadata)
        return files[name, role]

    return file_of


def _run(model, role: str, faces: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    return model.restore(faces) if role == "restorer" else model.inpaint(faces, masks)


def _batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    faces = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    masks = torch.zeros(2, 1, size, size)
    masks[..., size // 4:size // 2, size // 4:3 * size // 4] = 1
    return faces, masks


def _load(name: str, role: str, path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    cls = _model_class(name, role)
    options = RestoreOptions(seed=0, steps=2 if "steps" in cls.supported_options else None)
    return cls.load(str(path), device=device, dtype=dtype, options=options)


@pytest.mark.parametrize(("name", "role"), ROLES)
@pytest.mark.parametrize("device", DEVICES)
def test_loads_from_its_file_and_restores_a_batch_deterministically(name, role, device, weight_files):
    path = weight_files(name, role)
    model = _load(name, role, path, device)
    assert model.device.type == device
    faces, masks = _batch(model.face_size)
    first = _run(model, role, faces, masks)
    assert first.shape == faces.shape and first.dtype == torch.float32 and first.device == faces.device
    assert torch.isfinite(first).all() and first.min() >= 0 and first.max() <= 1
    assert not torch.equal(first, faces)  # the network did something
    torch.testing.assert_close(_run(model, role, faces, masks), first, rtol=0, atol=0)  # same call, same faces
    torch.testing.assert_close(_run(_load(name, role, path, device), role, faces, masks), first, rtol=0, atol=0)
    if role == "inpainter":
        known = masks.expand_as(faces) == 0
        assert torch.equal(first[known], faces[known])  # only the hole is filled


@pytest.mark.parametrize(("name", "role"), ROLES)
def test_the_requested_precision_is_honoured(name, role, weight_files):
    path = weight_files(name, role)
    reduced = _load(name, role, path, dtype=torch.bfloat16)
    weights, _ = reduced.weights_file()
    assert any(value.dtype == torch.bfloat16 for value in weights.values())  # the networks run in bf16
    faces, masks = _batch(reduced.face_size)
    output = _run(reduced, role, faces, masks)
    assert output.dtype == torch.float32 and torch.isfinite(output).all()  # the contract's layout, whatever inside
    reference = _run(_load(name, role, path), role, faces, masks)
    assert (output - reference).abs().mean() < 0.05


@pytest.mark.parametrize(("name", "role"), ROLES)
def test_progress_is_reported_through_on_step_only(name, role, weight_files, capsys):
    model = _load(name, role, weight_files(name, role))
    calls: list[tuple[str, int, int]] = []
    model.on_step = lambda label, done, total: calls.append((label, done, total))
    _run(model, role, *_batch(model.face_size))
    assert capsys.readouterr().err == ""  # a backend never prints
    for label, done, total in calls:
        assert label and 0 <= done <= total
    if calls:  # steps are counted from 0 to the total
        assert calls[0][1] == 0 and calls[-1][1] == calls[-1][2]
