"""The evaluation sets the papers report on, and where to get them.

Only LFW has an official direct download (an archive, fetched and unpacked into the cache). The test sets
the papers use (CelebA-Test, LFW-Test, CelebChild-Test, WebPhoto-Test, WIDER-Test) are shared through Google
Drive folders, which cannot be fetched without a browser: for those, the error says where to get them and
where to put them. Any folder works too (``--dataset DIR``).
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from facefix import hub
from facefix.errors import FacefixError
from facefix.registry import Checkpoint


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    size: int  # number of images
    source: str
    host: str
    license: str
    has_ground_truth: bool
    archive_url: str | None = None  # a direct download (tar archive), when one exists


DATASETS: dict[str, DatasetInfo] = {
    "lfw": DatasetInfo("lfw", 13233, "https://vis-www.cs.umass.edu/lfw/", "UMass Amherst (official archive)",
                       "research use, no formal licence", False, "https://vis-www.cs.umass.edu/lfw/lfw.tgz"),
    "celeba-test": DatasetInfo("celeba-test", 3000, "https://github.com/TencentARC/VQFR (CelebA-Test)",
                               "Google Drive", "CelebA: non-commercial research", True),
    "lfw-test": DatasetInfo("lfw-test", 1711, "https://github.com/TencentARC/GFPGAN (LFW-Test)", "Google Drive",
                            "research use", False),
    "celebchild-test": DatasetInfo("celebchild-test", 180, "https://github.com/TencentARC/GFPGAN", "Google Drive",
                                   "research use", False),
    "webphoto-test": DatasetInfo("webphoto-test", 407, "https://github.com/TencentARC/GFPGAN", "Google Drive",
                                 "research use", False),
    # seed 001's inpainting set: 2,000 CelebA-HQ test faces at 256 px; the paper does not publish its list,
    # Palette's test.flist is the usual 28k/2k split (DDPM_NOTES.md).
    "celeba-hq-test": DatasetInfo("celeba-hq-test", 2000, "https://github.com/Janspiry/Palette-Image-to-Image-"
                                  "Diffusion-Models (CelebA-HQ, test.flist)", "Google Drive",
                                  "CelebA: non-commercial research", True),
    "wider-test": DatasetInfo("wider-test", 970, "https://github.com/sczhou/CodeFormer (WIDER-Test)", "Google Drive",
                              "research use", False),
}


def dataset_dir(name: str) -> Path:
    return hub.cache_dir() / "datasets" / name


def resolve_dataset(spec: str) -> Path:
    """A folder of images for ``--dataset``: an existing folder, or a registered set (fetched if possible)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if spec not in DATASETS:
        raise FacefixError(f"--dataset {spec}: no such folder and no known set (known: {', '.join(DATASETS)})")
    info, target = DATASETS[spec], dataset_dir(spec)
    if target.is_dir() and any(target.iterdir()):
        return target
    if info.archive_url is None:
        raise FacefixError(f"--dataset {spec}: hosted on {info.host} only; download it from {info.source} "
                           f"and unpack the images into {target}")
    archive = hub.fetch(Checkpoint(id=f"datasets.{spec}", urls=(info.archive_url,),
                                   filename=Path(info.archive_url).name, license=info.license))
    _unpack(archive, target)
    return target


def check_members(archive: Path, members: list[tarfile.TarInfo]) -> None:
    """Refuse an archive that would write outside its folder: absolute names, ``..``, links pointing out,
    devices. Checked here, not left to ``tarfile``'s ``data`` filter alone: Python 3.11 releases before the
    2025 tarfile fixes let crafted links slip past it."""
    for member in members:
        name = PurePosixPath(member.name)
        if name.is_absolute() or ".." in name.parts or (name.parts and name.parts[0].endswith(":")):
            raise FacefixError(f"{archive}: refused: member {member.name!r} would be written outside the folder")
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise FacefixError(f"{archive}: refused: member {member.name!r} is a device or pipe")
        if member.issym() or member.islnk():
            link = PurePosixPath(member.linkname)
            resolved = link.parts if member.islnk() else (*name.parent.parts, *link.parts)
            depth = 0
            for part in resolved:
                depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
                if depth < 0:
                    break
            if link.is_absolute() or depth < 0:
                raise FacefixError(f"{archive}: refused: link {member.name!r} -> {member.linkname!r} points "
                                   "outside the folder")


def _unpack(archive: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            check_members(archive, members)
            tar.extractall(partial, members=members, filter="data")  # and "data" refuses what it knows
    except (tarfile.TarError, OSError) as exc:
        raise FacefixError(f"{archive}: cannot unpack ({exc})") from None
    partial.replace(target)
