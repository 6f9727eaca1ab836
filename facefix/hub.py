"""Weights on disk: the cache, verified downloads, and safe loading.

* Cache: ``platformdirs.user_cache_dir("facefix")`` or ``$FACEFIX_HOME``; a checkpoint lives at
  ``<cache>/<group>/<filename>``.
* Downloads (https only; plain http only from this machine, for tests) resume partial files with HTTP
  Range, are verified against the registry's sha256 (or, when the registry has none, their format is
  checked and the hash recorded after the first download is used from then on), are written by one
  process at a time (a lock file naming the process and host; a dead process's lock is taken over at
  once), and appear in the cache only complete, by an atomic rename.
* Every cached file is checked before use: a stamp next to it (size, mtime, sha256) says it was verified;
  a file whose stamp does not match is hashed again, and a corrupt or truncated one is deleted and
  fetched again (offline: an error naming the file and what to do).
* ``FACEFIX_MIRROR`` is a base URL tried before the registry's URLs; ``FACEFIX_OFFLINE=1`` forbids the
  network and says which URL to fetch by hand and where to put the file.
* Loading never unpickles arbitrary objects: safetensors, or ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import platformdirs
import requests

from facefix import files
from facefix.console import console, progress
from facefix.errors import CheckpointError, DownloadError, OfflineError
from facefix.locks import exclusive
from facefix.registry import Checkpoint, default_checkpoint, get_checkpoint, is_checkpoint_id

if TYPE_CHECKING:  # torch loads with the first checkpoint, not with `facefix --help` or `models list`
    import torch

#: wrapper keys that hold the real state dict, most specific first
WRAPPER_KEYS = ("params_ema", "params", "g_ema", "state_dict", "model", "net")
_CHUNK = 1 << 20
# small enough that a broken transfer keeps almost everything it received
_DOWNLOAD_CHUNK = 1 << 16


def cache_dir() -> Path:
    """Where downloaded weights live (``$FACEFIX_HOME`` overrides the platform cache)."""
    root = os.environ.get("FACEFIX_HOME") or platformdirs.user_cache_dir("facefix")
    return Path(root).expanduser()


def checkpoint_path(checkpoint: Checkpoint) -> Path:
    return cache_dir() / checkpoint.group / checkpoint.filename


def _offline() -> bool:
    return os.environ.get("FACEFIX_OFFLINE", "").lower() not in ("", "0", "false", "no")


def _candidate_urls(checkpoint: Checkpoint) -> list[str]:
    """A mirror (flat ``<mirror>/<filename>``, or keeping each URL's path) first, then the registry's URLs."""
    mirror = (os.environ.get("FACEFIX_MIRROR") or "").rstrip("/")
    mirrored = []
    if mirror:
        mirrored.append(f"{mirror}/{checkpoint.filename}")
        mirrored += [f"{mirror}{urlparse(url).path}" for url in checkpoint.urls]
    return list(dict.fromkeys(mirrored + list(checkpoint.urls)))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _recorded_hash_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def expected_sha256(checkpoint: Checkpoint) -> str | None:
    """The registry's hash, else the one recorded at first download, else ``None``."""
    if checkpoint.sha256:
        return checkpoint.sha256.lower()
    recorded = _recorded_hash_path(checkpoint_path(checkpoint))
    return recorded.read_text().strip() if recorded.exists() else None


def verify(checkpoint: Checkpoint) -> bool | None:
    """``True``/``False`` for a cached file with a known hash, ``None`` if absent or unverifiable."""
    path = checkpoint_path(checkpoint)
    expected = expected_sha256(checkpoint)
    if not path.exists() or expected is None:
        return None
    return sha256_of(path) == expected


def _download_to(url: str, part: Path, total_hint: int | None, label: str) -> None:
    """Append the rest of ``url`` to ``part`` (resuming with Range when it already has bytes)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, headers=headers, stream=True, timeout=30) as response:
        if response.status_code == 416:  # already complete
            return
        response.raise_for_status()
        if have and response.status_code != 206:  # server ignored Range: start over
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else total_hint
        with progress(transient=True) as bar, part.open("ab" if have else "wb") as f:
            task = bar.add_task(label, total=total, completed=have, status="")
            for block in response.iter_content(_DOWNLOAD_CHUNK):
                f.write(block)
                bar.advance(task, len(block))


def _download_with_retries(url: str, part: Path, checkpoint: Checkpoint, attempts: int = 3) -> str | None:
    """Download ``url`` into ``part``, resuming after broken transfers; the error text, or ``None``."""
    error = None
    for _ in range(attempts):
        try:
            _download_to(url, part, checkpoint.size, checkpoint.filename)
            return None
        except requests.HTTPError as exc:  # the server answered: retrying will not help
            return f"HTTP {exc.response.status_code}"
        except requests.RequestException as exc:
            error = type(exc).__name__
    return error


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp_matches(path: Path, expected: str | None) -> bool:
    """The stamp says this very file (same size and mtime) was verified against ``expected``."""
    try:
        stamp = json.loads(_stamp_path(path).read_text())
        stat = path.stat()
        return (stamp["size"] == stat.st_size and stamp["mtime_ns"] == stat.st_mtime_ns
                and (expected is None or stamp["sha256"] == expected))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _write_stamp(path: Path, sha256: str) -> None:
    stat = path.stat()
    files.write_bytes(_stamp_path(path), json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                                     "sha256": sha256}), overwrite=True)


_PICKLED = (".pth", ".pt", ".bin", ".ckpt", ".pkl")


def format_problem(path: Path, *, name: str | None = None) -> str | None:
    """Why ``path`` cannot be the file its name promises (an HTML error page, a cut-off header), or ``None``.

    Used where no published hash can tell: torch files are zip archives or pickles, safetensors start
    with their header's length and a JSON object, ``.tgz`` archives with the gzip magic number."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(512)
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in text[:200]:
        return "an HTML page, not the file (the server sent an error or a login page)"
    name = (name or path.name).lower()
    if name.endswith(".safetensors"):
        length = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
        if not (2 <= length <= size - 8 and head[8:9] == b"{"):
            return "not a safetensors file (no valid header)"
    elif name.endswith(_PICKLED):
        if not (head.startswith(b"PK\x03\x04") or (len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5)):
            return "not a PyTorch checkpoint (neither a zip archive nor a pickle)"
    elif name.endswith((".tgz", ".tar.gz")) and not head.startswith(b"\x1f\x8b"):
        return "not a gzip-compressed archive"
    return None


_TORCH_HUB_PREFIX = re.compile(r"-([0-9a-f]{8,})\.[a-z]+$")


def _published_prefix(checkpoint: Checkpoint) -> str | None:
    """PyTorch's own downloads carry the start of their sha256 in the name (``vgg16-397923af.pth``)."""
    for url in checkpoint.urls:
        if urlparse(url).hostname == "download.pytorch.org" and (match := _TORCH_HUB_PREFIX.search(url)):
            return match.group(1)
    return None


def _unpinned_problem(checkpoint: Checkpoint, path: Path, actual: str, name: str) -> str | None:
    """Checks for a file whose full hash nobody publishes: the hash prefix in its name, then its format."""
    prefix = _published_prefix(checkpoint)
    if prefix and not actual.startswith(prefix):
        return f"sha256 {actual} does not start with {prefix}, the prefix its name publishes"
    return format_problem(path, name=name)


def _verified(checkpoint: Checkpoint, path: Path) -> str | None:
    """Check a cached file (quickly, when its stamp matches); the problem, or ``None`` if it is good.
    A file without any known hash (placed by hand) has its format checked and its hash recorded."""
    expected = expected_sha256(checkpoint)
    if _stamp_matches(path, expected):
        return None
    actual = sha256_of(path)
    if expected is not None and actual != expected:
        size = path.stat().st_size
        truncated = checkpoint.size is not None and size < checkpoint.size
        return (f"truncated ({size} of {checkpoint.size} bytes)" if truncated
                else f"corrupt (sha256 {actual}, expected {expected})")
    if expected is None:
        problem = _unpinned_problem(checkpoint, path, actual, path.name)
        if problem:
            return problem
        files.write_bytes(_recorded_hash_path(path), actual + "\n", overwrite=True)
    _write_stamp(path, actual)
    return None


def _secure(url: str) -> bool:
    """https, or plain http to this machine only (a local test server)."""
    parsed = urlparse(url)
    return parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost",
                                                                                         "::1"))


def fetch(checkpoint: Checkpoint | str) -> Path:
    """The cached file of ``checkpoint``, checked, downloading and verifying it first if needed.

    A cached file that fails its check is deleted and downloaded again."""
    if isinstance(checkpoint, str):
        checkpoint = get_checkpoint(checkpoint)
    path = checkpoint_path(checkpoint)
    problem = None
    if path.exists():
        problem = _verified(checkpoint, path)
        if problem is None:
            return path
        for stale in (path, _stamp_path(path)):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    if _offline():
        found = f"the cached file was {problem} and has been deleted" if problem else "the file is not cached"
        raise OfflineError(
            f"{checkpoint.id}: FACEFIX_OFFLINE=1 and {found}; download "
            f"{checkpoint.urls[0]} by hand and save it as {path}", checkpoint_id=checkpoint.id
        )
    if problem:
        console.print(f"[yellow]warning:[/] {path}: {problem}; deleted, downloading it again")
    part = path.with_name(path.name + ".part")
    with exclusive(path.with_name(path.name + ".lock"), checkpoint.id):
        if path.exists():  # another process finished it while we waited
            return path
        failures = []
        for url in _candidate_urls(checkpoint):
            if not _secure(url):
                failures.append(f"{url} (refused: downloads use https only)")
                continue
            error = _download_with_retries(url, part, checkpoint)
            if error:
                failures.append(f"{url} ({error})")
                continue
            actual = sha256_of(part)
            expected = expected_sha256(checkpoint)
            if expected and actual != expected:
                part.unlink()
                raise DownloadError(f"{url}: sha256 mismatch (expected {expected}, got {actual}); file discarded")
            if not expected:
                problem = _unpinned_problem(checkpoint, part, actual, path.name)
                if problem:
                    part.unlink()
                    raise DownloadError(f"{url}: {problem}; file discarded")
                files.write_bytes(_recorded_hash_path(path), actual + "\n", overwrite=True)
            files.publish(part, path, overwrite=True)
            _write_stamp(path, actual)
            console.print(f"[green]downloaded[/] {checkpoint.id} -> {path}")
            return path
    raise DownloadError(f"{checkpoint.id}: download failed from {'; '.join(failures)}",
                        checkpoint_id=checkpoint.id)


def remove(checkpoint: Checkpoint) -> bool:
    """Delete a cached file (and its recorded hash and stamp); ``False`` if it was not cached."""
    path = checkpoint_path(checkpoint)
    existed = path.exists()
    for stale in (path, _recorded_hash_path(path), _stamp_path(path), path.with_name(path.name + ".part")):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    return existed


def resolve_weights(spec: str | Path | None, group: str) -> tuple[Checkpoint | None, Path]:
    """Turn ``--weights`` (``None``, a registry id, or a file path) into a local file."""
    if spec is None:
        checkpoint = default_checkpoint(group)
        return checkpoint, fetch(checkpoint)
    if isinstance(spec, str) and is_checkpoint_id(spec):
        checkpoint = get_checkpoint(spec)
        return checkpoint, fetch(checkpoint)
    path = Path(spec).expanduser()
    if path.is_file():
        return None, path
    if path.exists():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise CheckpointError(f"{path}: is {kind}, expected a checkpoint file")
    raise CheckpointError(f"{spec}: no such file and no registry id of that name (see `facefix models list`)")


def canonicalize_state_dict(obj: object, wrapper: str | None = None) -> dict[str, torch.Tensor]:
    """Unwrap training wrappers (``params_ema``, ``g_ema``, ...) and strip ``module.`` prefixes."""
    import torch

    if isinstance(obj, Mapping):
        keys = ([wrapper] if wrapper else []) + list(WRAPPER_KEYS)
        for key in keys:
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError("checkpoint does not hold a state dict of tensors")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_state_dict(path: str | Path, wrapper: str | None = None) -> dict[str, torch.Tensor]:
    """Read a checkpoint without unpickling arbitrary objects."""
    import torch

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw = load_file(str(path))
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except EOFError:
        raise CheckpointError(f"{path}: empty or truncated checkpoint file") from None
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "PytorchStreamReader" in str(exc):
            cause = "corrupt or truncated checkpoint file (not a readable torch archive)"
        elif "weights_only" in str(exc) or "Unsupported global" in str(exc):
            cause = "refused: the pickle holds objects other than tensors (only weights are loaded)"
        raise CheckpointError(f"{path}: {cause}") from None
    try:
        return canonicalize_state_dict(raw, wrapper)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def save_state_dict(state_dict: Mapping[str, torch.Tensor], path: str | Path,
                    metadata: Mapping[str, str] | None = None, *, overwrite: bool = True) -> Path:
    """Write tensors as safetensors, atomically (``overwrite=False``: never over an existing file)."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    return files.write_with(path, lambda tmp: save_file(tensors, str(tmp), metadata=dict(metadata or {})),
                            overwrite=overwrite)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file (empty for other formats)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return {}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


__all__ = ["cache_dir", "canonicalize_state_dict", "checkpoint_path", "expected_sha256", "fetch",
           "load_state_dict", "read_metadata", "remove", "resolve_weights", "save_state_dict", "sha256_of",
           "verify"]
