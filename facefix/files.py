"""The one way facefix writes a file: complete or not at all, and never over somebody else's file.

Every file facefix leaves behind (restored images and videos, reports, compare images, score files,
contact sheets, exported weights, cache entries) is written here:

* under a temporary name of its own in the target folder (process id + random part, short whatever
  the target's length), flushed to disk (fsync), then published under its final name;
* publishing uses ``os.link``, which fails if the name exists *at that moment*: a file that appeared
  while the work ran (another run into the same folder, a user's file) is never replaced unless the
  caller says ``overwrite`` (then ``os.replace``, still atomic);
* never onto an input of the run (``protected``), even with ``overwrite``;
* names longer than the file system allows are shortened, keeping a stable hash of the full name.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from facefix.errors import FacefixError, InputError

_DEFAULT_NAME_MAX = 255
_HASH_CHARS = 10
_OUT_OF_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class OutputExistsError(InputError):
    """The target already exists and replacing it was not asked for."""

    def __init__(self, path: Path, cause: str = "already exists (use --overwrite to replace it)"):
        super().__init__(path, cause)


class DiskFullError(FacefixError):
    """Out of disk space (or quota): no later file can be written either, so a run stops."""


def _name_max(folder: Path) -> int:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        return os.pathconf(existing, "PC_NAME_MAX")
    return _DEFAULT_NAME_MAX


def fit_name(path: Path) -> Path:
    """``path``, or, when its name is too long for the file system, the same name cut short with a
    hash of the whole name before the extension (the same input always gives the same name)."""
    limit = _name_max(path.parent)
    if len(path.name.encode()) <= limit:
        return path
    digest = hashlib.sha256(path.name.encode()).hexdigest()[:_HASH_CHARS]
    suffix = path.suffix if len(path.suffix.encode()) < 16 else ""
    room = limit - len(suffix.encode()) - len(digest) - 1
    stem = path.name[: len(path.name) - len(suffix)].encode()[:room].decode(errors="ignore")
    return path.with_name(f"{stem}-{digest}{suffix}")


def temp_path(target: Path) -> Path:
    """A hidden name in ``target``'s folder, unique to this process and call, with ``target``'s extension
    (encoders such as ffmpeg choose the format from it). Short whatever ``target``'s length."""
    suffix = target.suffix if len(target.suffix) < 16 else ""
    return target.with_name(f".facefix-{os.getpid()}-{secrets.token_hex(4)}.partial{suffix}")


def _cannot_write(target: Path, exc: OSError) -> FacefixError:
    if exc.errno in _OUT_OF_SPACE:
        return DiskFullError(f"{target.parent}: out of disk space ({exc.strerror}); free some space and run the "
                             "same command again (finished files are kept)")
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return InputError(target.parent, f"permission denied: cannot write {target.name} here")
    if exc.errno == errno.ENAMETOOLONG:
        return InputError(target, "file name too long for this file system")
    return InputError(target, f"cannot write ({exc.strerror or exc})")


def _refuse_inputs(target: Path, protected: Collection[Path]) -> None:
    if protected and target.resolve() in protected:
        raise InputError(target, "is an input or an output of this run, never replaced (choose another name)")


def publish(tmp: Path, target: Path, *, overwrite: bool = False, protected: Collection[Path] = ()) -> Path:
    """Give the complete file ``tmp`` its final name ``target``; ``tmp`` is gone afterwards.

    Without ``overwrite`` an existing ``target`` is left alone (:class:`OutputExistsError`), checked by
    the link itself, so two runs racing for one name cannot both win."""
    try:
        _refuse_inputs(target, protected)
        if overwrite:
            os.replace(tmp, target)
            return target
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise OutputExistsError(target) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            # no hard links here (FAT, some network shares): claim the name exclusively, then replace
            try:
                os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                raise OutputExistsError(target) from None
            os.replace(tmp, target)
        return target
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def writing(target: str | Path, *, overwrite: bool = False, protected: Collection[Path] = ()) -> Iterator[Path]:
    """``with writing(target) as tmp:`` write ``tmp`` (any way: open it, hand it to an encoder); when the
    block ends without error ``tmp`` is flushed and published as ``target``, otherwise removed.

    Fails early, before the work, when ``target`` exists (without ``overwrite``) or is an input."""
    target = fit_name(Path(target))
    _refuse_inputs(target, protected)
    if not overwrite and target.exists():
        raise OutputExistsError(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(target, exc) from None
    tmp = temp_path(target)
    try:
        yield tmp
        _fsync(tmp)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _cannot_write(target, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    publish(tmp, target, overwrite=overwrite, protected=protected)


def write_bytes(target: str | Path, data: bytes | str, *, overwrite: bool = False,
                protected: Collection[Path] = ()) -> Path:
    """Write ``data`` (``str`` as UTF-8) as the new file ``target``; returns the name used."""
    payload = data.encode() if isinstance(data, str) else data
    target = fit_name(Path(target))
    with writing(target, overwrite=overwrite, protected=protected) as tmp:
        tmp.write_bytes(payload)
    return target


def write_with(target: str | Path, write: Callable[[Path], object], *, overwrite: bool = False,
               protected: Collection[Path] = ()) -> Path:
    """Let ``write(tmp)`` produce the file, then publish it as ``target``; returns the name used."""
    target = fit_name(Path(target))
    with writing(target, overwrite=overwrite, protected=protected) as tmp:
        write(tmp)
    return target


def copy_file(source: Path, target: str | Path, *, overwrite: bool = False,
              protected: Collection[Path] = ()) -> Path:
    """A byte-for-byte copy of ``source`` as the new file ``target``."""
    return write_with(target, lambda tmp: shutil.copyfile(source, tmp), overwrite=overwrite, protected=protected)


def is_out_of_space(exc: BaseException) -> bool:
    return isinstance(exc, DiskFullError) or (isinstance(exc, OSError) and exc.errno in _OUT_OF_SPACE)
