"""Downloads against a real HTTP server on 127.0.0.1, verification, locking and safe loading."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
from pathlib import Path

import pytest
import torch
from helpers.http_server import FileServer

from facefix import hub, locks
from facefix.errors import CheckpointError, DownloadError, OfflineError
from facefix.registry import Checkpoint


@pytest.fixture
def served(tmp_path):
    """A 3 MB file on a loopback server and a checkpoint entry pointing at it."""
    root = tmp_path / "server"
    root.mkdir()
    payload = b"PK\x03\x04" + os.urandom(3_000_000)  # shaped like a torch zip checkpoint
    (root / "weights.pth").write_bytes(payload)
    server = FileServer(root)
    checkpoint = Checkpoint(id="test.weights", urls=(f"{server.url}/weights.pth",), filename="weights.pth",
                            license="test", sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
    yield server, checkpoint, payload
    server.close()


def test_good_file_lands_and_verifies(served):
    _, checkpoint, payload = served
    path = hub.fetch(checkpoint)
    assert path == hub.cache_dir() / "test" / "weights.pth"
    assert path.read_bytes() == payload
    assert hub.verify(checkpoint) is True
    assert not list(path.parent.glob("*.part")) and not list(path.parent.glob("*.lock"))


def test_truncated_transfer_resumes_with_range(served):
    server, checkpoint, payload = served
    server.log.truncate_once["weights.pth"] = 1_000_000
    path = hub.fetch(checkpoint)
    assert path.read_bytes() == payload
    assert len(server.log.ranges) == 1 and server.log.ranges[0].startswith("bytes=")
    assert int(server.log.ranges[0].removeprefix("bytes=").rstrip("-")) > 0


def test_partial_file_from_an_earlier_run_is_resumed(served):
    server, checkpoint, payload = served
    part = hub.checkpoint_path(checkpoint).with_name("weights.pth.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(payload[:1234])
    assert hub.fetch(checkpoint).read_bytes() == payload
    assert server.log.ranges == ["bytes=1234-"]


def test_wrong_sha256_is_rejected_and_nothing_stays(served):
    server, checkpoint, _ = served
    bad = Checkpoint(id="test.bad", urls=checkpoint.urls, filename="weights.pth", license="test", sha256="0" * 64)
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        hub.fetch(bad)
    folder = hub.cache_dir() / "test"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_hash_recorded_on_first_download_when_registry_has_none(served):
    _, checkpoint, payload = served
    unpinned = Checkpoint(id="test.unpinned", urls=checkpoint.urls, filename="weights.pth", license="test")
    path = hub.fetch(unpinned)
    assert hub.expected_sha256(unpinned) == hashlib.sha256(payload).hexdigest()
    path.write_bytes(b"tampered")
    assert hub.verify(unpinned) is False


def _fetch_in_child(url: str, sha256: str, home: str) -> str:
    os.environ["FACEFIX_HOME"] = home
    checkpoint = Checkpoint(id="test.weights", urls=(url,), filename="weights.pth", license="test", sha256=sha256)
    return str(hub.fetch(checkpoint))


def test_two_concurrent_downloads_make_one_good_file(served):
    _, checkpoint, payload = served
    home = os.environ["FACEFIX_HOME"]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        args = (checkpoint.urls[0], checkpoint.sha256, home)
        paths = pool.starmap(_fetch_in_child, [args, args])
    assert paths[0] == paths[1]
    assert Path(paths[0]).read_bytes() == payload
    assert sorted(p.name for p in Path(paths[0]).parent.iterdir()) == ["weights.pth", "weights.pth.verified"]


def test_mirror_is_tried_first(served, monkeypatch, tmp_path):
    server, checkpoint, payload = served
    unreachable = Checkpoint(id="test.mirrored", urls=("http://127.0.0.1:9/nowhere/weights.pth",),
                             filename="weights.pth", license="test", sha256=checkpoint.sha256)
    monkeypatch.setenv("FACEFIX_MIRROR", server.url)
    assert hub.fetch(unreachable).read_bytes() == payload
    assert server.log.requests == ["/weights.pth"]


def test_offline_mode_names_url_and_target(served, monkeypatch):
    server, checkpoint, _ = served
    monkeypatch.setenv("FACEFIX_OFFLINE", "1")
    with pytest.raises(OfflineError) as excinfo:
        hub.fetch(checkpoint)
    message = str(excinfo.value)
    assert checkpoint.urls[0] in message
    assert str(hub.checkpoint_path(checkpoint)) in message
    assert server.log.requests == []


def test_unreachable_server_is_one_clear_error():
    checkpoint = Checkpoint(id="test.gone", urls=("http://127.0.0.1:9/weights.pth",), filename="w.pth",
                            license="test")
    with pytest.raises(DownloadError, match="test.gone: download failed from http://127.0.0.1:9/weights.pth"):
        hub.fetch(checkpoint)


class _NotATensor:
    pass


def test_pickle_with_a_non_tensor_object_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with path.open("wb") as f:
        pickle.dump({"params_ema": {"w": torch.zeros(1)}, "payload": _NotATensor()}, f)
    with pytest.raises(CheckpointError, match="evil.pth: refused"):
        hub.load_state_dict(path)


def test_torch_save_of_an_object_is_refused(tmp_path):
    path = tmp_path / "object.pt"
    torch.save({"net": _NotATensor()}, path)
    with pytest.raises(CheckpointError, match="object.pt"):
        hub.load_state_dict(path)


@pytest.mark.parametrize("wrapper", ["params_ema", "params", "state_dict", "g_ema", None])
def test_state_dict_unwrapped_and_prefix_stripped(tmp_path, wrapper):
    tensors = {"module.conv.weight": torch.ones(2, 2), "module.conv.bias": torch.zeros(2)}
    path = tmp_path / "ckpt.pth"
    torch.save({wrapper: tensors, "iter": torch.tensor(3)} if wrapper else tensors, path)
    loaded = hub.load_state_dict(path)
    assert sorted(loaded) == ["conv.bias", "conv.weight"]


def test_params_ema_preferred_over_params(tmp_path):
    path = tmp_path / "both.pth"
    torch.save({"params": {"w": torch.zeros(1)}, "params_ema": {"w": torch.ones(1)}}, path)
    assert hub.load_state_dict(path)["w"].item() == 1.0


def test_safetensors_round_trip_with_metadata(tmp_path):
    path = hub.save_state_dict({"a": torch.arange(4.0)}, tmp_path / "x.safetensors", {"config": '{"k": 1}'})
    assert torch.equal(hub.load_state_dict(path)["a"], torch.arange(4.0))
    assert hub.read_metadata(path) == {"config": '{"k": 1}'}


def test_resolve_weights_paths_and_errors(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"w": torch.zeros(1)}, path)
    assert hub.resolve_weights(str(path), group="fusion") == (None, path)
    with pytest.raises(CheckpointError, match="no such file and no registry id"):
        hub.resolve_weights(str(tmp_path / "missing.pth"), group="fusion")
    with pytest.raises(CheckpointError, match="is a directory"):
        hub.resolve_weights(str(tmp_path), group="fusion")


def test_remove_deletes_the_file_and_its_recorded_hash(served):
    _, checkpoint, _ = served
    path = hub.fetch(checkpoint)
    assert hub.remove(checkpoint) is True
    assert not path.exists()
    assert hub.remove(checkpoint) is False


def test_mirror_keeping_the_upstream_path(tmp_path, monkeypatch):
    root = tmp_path / "mirror"
    (root / "releases" / "v1").mkdir(parents=True)
    payload = b"mirrored weights"
    (root / "releases" / "v1" / "w.pth").write_bytes(payload)
    server = FileServer(root)
    try:
        checkpoint = Checkpoint(id="test.deep", urls=("https://example.invalid/releases/v1/w.pth",),
                                filename="w.pth", license="test", sha256=hashlib.sha256(payload).hexdigest())
        monkeypatch.setenv("FACEFIX_MIRROR", server.url)
        assert hub.fetch(checkpoint).read_bytes() == payload
        assert server.log.requests == ["/w.pth", "/releases/v1/w.pth"]
    finally:
        server.close()


@pytest.mark.parametrize("size", [0, 7])
def test_empty_or_truncated_pth_is_a_clear_error(tmp_path, size):
    whole = tmp_path / "whole.pth"
    torch.save({"w": torch.zeros(64)}, whole)
    path = tmp_path / "cut.pth"
    path.write_bytes(whole.read_bytes()[:size])
    with pytest.raises(CheckpointError, match=r"cut.pth: (empty or truncated|corrupt or truncated) checkpoint file"):
        hub.load_state_dict(path)


# Cached bytes are checked before use; locks of dead processes; unpinned downloads; https only.

def test_a_flipped_byte_in_a_cached_file_is_found_and_fetched_again(served):
    server, checkpoint, payload = served
    path = hub.fetch(checkpoint)
    data = bytearray(path.read_bytes())
    data[1_500_000] ^= 0xFF
    path.write_bytes(bytes(data))
    assert hub.fetch(checkpoint).read_bytes() == payload
    assert server.log.requests == ["/weights.pth", "/weights.pth"]


def test_a_truncated_cached_file_is_fetched_again(served):
    server, checkpoint, payload = served
    path = hub.fetch(checkpoint)
    path.write_bytes(payload[:1000])
    assert hub.fetch(checkpoint).read_bytes() == payload


def test_a_good_stamped_file_is_not_hashed_again(served, monkeypatch):
    _, checkpoint, _ = served
    hub.fetch(checkpoint)
    monkeypatch.setattr(hub, "sha256_of", lambda path: pytest.fail("hashed again"))
    assert hub.fetch(checkpoint).exists()


def test_offline_a_corrupt_cached_file_is_one_error_naming_it_and_the_fix(served, monkeypatch):
    _, checkpoint, payload = served
    path = hub.fetch(checkpoint)
    path.write_bytes(payload[:-1] + b"!")
    monkeypatch.setenv("FACEFIX_OFFLINE", "1")
    with pytest.raises(OfflineError) as excinfo:
        hub.fetch(checkpoint)
    message = str(excinfo.value)
    assert "corrupt" in message and str(path) in message and checkpoint.urls[0] in message
    assert "\n" not in message and not path.exists()


def test_an_html_page_is_never_accepted_as_unpinned_weights(tmp_path):
    root = tmp_path / "server"
    root.mkdir()
    (root / "GPEN-BFR-512.pth").write_bytes(b"<!DOCTYPE html><html><body>Access denied</body></html>" * 10)
    server = FileServer(root)
    try:
        checkpoint = Checkpoint(id="test.gpen", urls=(f"{server.url}/GPEN-BFR-512.pth",),
                                filename="GPEN-BFR-512.pth", license="test")
        with pytest.raises(DownloadError, match="an HTML page"):
            hub.fetch(checkpoint)
        assert hub.expected_sha256(checkpoint) is None  # nothing pinned
        assert not hub.checkpoint_path(checkpoint).exists()
    finally:
        server.close()


@pytest.mark.parametrize(("name", "data", "problem"), [
    ("w.safetensors", b"\xff" * 64, "not a safetensors file"),
    ("w.pth", b"garbage!" * 8, "not a PyTorch checkpoint"),
    ("set.tgz", b"not gzip" * 8, "not a gzip"),
])
def test_format_checks(tmp_path, name, data, problem):
    path = tmp_path / name
    path.write_bytes(data)
    assert problem in hub.format_problem(path)
    torch.save({"w": torch.zeros(1)}, tmp_path / "good.pth")
    assert hub.format_problem(tmp_path / "good.pth") is None


def test_plain_http_is_refused_except_on_this_machine():
    checkpoint = Checkpoint(id="test.http", urls=("http://example.invalid/w.pth",), filename="w.pth",
                            license="test")
    with pytest.raises(DownloadError, match="refused: downloads use https only"):
        hub.fetch(checkpoint)


def test_every_registry_and_dataset_url_is_https():
    from facefix.eval.datasets import DATASETS
    from facefix.registry import list_checkpoints

    urls = [url for checkpoint in list_checkpoints() for url in checkpoint.urls]
    urls += [info.archive_url for info in DATASETS.values() if info.archive_url]
    assert urls and [url for url in urls if not url.startswith("https://")] == []


def test_the_lock_of_a_dead_process_is_taken_over_at_once(served):
    import socket
    import subprocess
    import sys
    import time

    _, checkpoint, payload = served
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = hub.checkpoint_path(checkpoint).with_name("weights.pth.lock")
    lock.parent.mkdir(parents=True)
    lock.write_text(f"{dead.pid} {socket.gethostname()}")  # what kill -9 during a download leaves
    started = time.perf_counter()
    assert hub.fetch(checkpoint).read_bytes() == payload
    assert time.perf_counter() - started < 5 and not lock.exists()


def test_the_lock_of_a_live_process_is_waited_for(served, monkeypatch):
    import socket
    import threading

    _, checkpoint, payload = served
    lock = hub.checkpoint_path(checkpoint).with_name("weights.pth.lock")
    lock.parent.mkdir(parents=True)
    lock.write_text(f"{os.getpid()} {socket.gethostname()}")  # alive: this very process
    threading.Timer(0.5, lock.unlink).start()
    assert hub.fetch(checkpoint).read_bytes() == payload


def test_a_pytorch_download_must_match_the_hash_prefix_in_its_name(mirror):
    folder, _ = mirror
    torch.save({"w": torch.zeros(3)}, folder / "vgg-deadbeef.pth")  # a real checkpoint, but not the named one
    checkpoint = Checkpoint(id="test.vgg", urls=("https://download.pytorch.org/models/vgg-deadbeef.pth",),
                            filename="vgg-deadbeef.pth", license="test")
    with pytest.raises(DownloadError, match="does not start with deadbeef"):
        hub.fetch(checkpoint)
    assert hub.expected_sha256(checkpoint) is None


def test_a_late_taker_never_removes_the_lock_another_process_just_took(tmp_path):
    import socket

    lock = tmp_path / "w.pth.lock"
    dead = (999_999_999, socket.gethostname())
    lock.write_text(f"{dead[0]} {dead[1]}")
    locks.take_over(lock, dead)  # the first waiting process removes the dead lock...
    assert not lock.exists() and locks.try_lock(lock)  # ...and takes its own
    locks.take_over(lock, dead)  # the second one acts on its stale judgement
    assert lock.read_text() == f"{os.getpid()} {socket.gethostname()}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pth.lock"]
