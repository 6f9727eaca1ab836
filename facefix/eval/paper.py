"""The numbers the seed papers print, to show beside ours.

Only values printed in the papers' own tables (``shared/seeds/*.txt``) are here, each with the table it
comes from. A paper's number is comparable to ours only as far as the conventions match; where they
are known to differ, the entry's note says how.

Not here, and why:
* seed 000's LPIPS (ablation only, printed as percentages, not values);
* seed 002/003 (mmrb): their sets are a CelebA selection of 2,556 posed faces and 1,610 LFW images
  that were never published, so no one can evaluate on the same images. InterLCM's GPEN row stands in,
  since ``mmrb`` reproduces GPEN on day one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperNumber:
    backend: str
    dataset: str
    metric: str
    printed: str  # exactly as the paper prints it (keeps its precision: "0.230", not 0.23)
    method: str  # the method whose row this is
    source: str  # paper and table
    setting: str | None = None  # e.g. the mask type for inpainting
    note: str | None = None  # how the paper's convention differs from ours, where it does

    @property
    def value(self) -> float:
        return float(self.printed)


SEED_000 = "seed 000 (fusion) Table 1"
SEED_001_CENTRE = "seed 001 (ddpm) Table 2"
SEED_001_RANDOM = "seed 001 (ddpm) Table 3"
SEED_004 = "seed 004 (InterLCM) Table 1"

_IDS_NOTE = "Deg of VQFR (ArcFace ResNet-18 on gray 128 px); ours uses IR-SE50 on colour: not the same scale"
_FID_NOTE_000 = "FID reference set not stated in the paper"


def _rows(backend: str, method: str, source: str, dataset: str, values: dict[str, str],
          setting: str | None = None) -> list[PaperNumber]:
    notes = {"ids": _IDS_NOTE if source == SEED_004 else None,
             "fid": _FID_NOTE_000 if source == SEED_000 else None}
    return [PaperNumber(backend, dataset, metric, value, method, source, setting, notes.get(metric))
            for metric, value in values.items()]


def _interlcm_table(backend: str, method: str, rows: dict[str, tuple[str, ...]]) -> list[PaperNumber]:
    """One method's row of seed 004 Table 1: CelebA-Test (6 metrics), then FID/MUSIQ on three real sets."""
    columns = {"celeba-test": ("lpips", "fid", "musiq", "ids", "psnr", "ssim"),
               "lfw-test": ("fid", "musiq"), "webphoto-test": ("fid", "musiq"), "wider-test": ("fid", "musiq")}
    numbers = []
    for dataset, metrics in columns.items():
        numbers += _rows(backend, method, SEED_004, dataset, dict(zip(metrics, rows[dataset])))
    return numbers


PAPER_NUMBERS: list[PaperNumber] = [
    # seed 000 Table 1, "Our algorithm" and the GFPGAN row (fusion's default weights are GFPGAN v1.4).
    *_rows("fusion", "fusion (paper)", SEED_000, "lfw-test", {"fid": "49.36", "niqe": "3.754"}),
    *_rows("fusion", "fusion (paper)", SEED_000, "celebchild-test", {"fid": "107.74", "niqe": "4.329"}),
    *_rows("fusion", "fusion (paper)", SEED_000, "webphoto-test", {"fid": "87.03", "niqe": "4.019"}),
    *_rows("fusion", "GFPGAN", SEED_000, "lfw-test", {"fid": "49.96", "niqe": "3.882"}),
    *_rows("fusion", "GFPGAN", SEED_000, "celebchild-test", {"fid": "111.78", "niqe": "4.349"}),
    *_rows("fusion", "GFPGAN", SEED_000, "webphoto-test", {"fid": "87.35", "niqe": "4.144"}),
    # seed 001: CelebA-HQ 256, 2,000 test images; the paper's own model ("本文方法").
    *_rows("ddpm", "ddpm (paper)", SEED_001_CENTRE, "celeba-hq-test", {"psnr": "24.93", "ssim": "0.882"}, "center"),
    *_rows("ddpm", "ddpm (paper)", SEED_001_RANDOM, "celeba-hq-test", {"psnr": "25.01", "ssim": "0.886"}, "random"),
    # seed 004 Table 1: InterLCM ("Ours"), and the rows of the methods the other backends start from.
    *_interlcm_table("interlcm", "InterLCM (paper)", {
        "celeba-test": ("0.223", "45.38", "76.58", "33.64", "25.19", "0.718"), "lfw-test": ("51.32", "76.16"),
        "webphoto-test": ("75.48", "75.88"), "wider-test": ("35.43", "76.29")}),
    *_interlcm_table("fusion", "GFPGAN", {
        "celeba-test": ("0.230", "49.84", "73.90", "34.56", "24.64", "0.688"), "lfw-test": ("50.36", "73.57"),
        "webphoto-test": ("87.47", "72.08"), "wider-test": ("39.45", "72.79")}),
    *_interlcm_table("mmrb", "GPEN", {
        "celeba-test": ("0.290", "63.44", "67.52", "36.17", "25.48", "0.708"), "lfw-test": ("61.04", "68.96"),
        "webphoto-test": ("99.09", "61.10"), "wider-test": ("46.25", "62.64")}),
]

#: metrics the papers report that facefix does not compute (MUSIQ: see the README), with their direction
NOT_COMPUTED_DIRECTIONS = {"musiq": "higher"}

#: the published sets the papers report on (``--paper-set`` takes one of these)
PAPER_SETS: frozenset[str] = frozenset(n.dataset for n in PAPER_NUMBERS)


def paper_numbers(backend: str, dataset: str | None, setting: str | None = None) -> list[PaperNumber]:
    """The papers' numbers for this backend on this set (and setting), in table order."""
    if dataset is None:
        return []
    return [n for n in PAPER_NUMBERS if n.backend == backend and n.dataset == dataset and n.setting == setting]
