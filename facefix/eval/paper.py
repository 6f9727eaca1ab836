"""The numbers the seed papers print, to show beside ours.

Each backend keeps its papers' rows as plain data (``facefix/backends/<name>/paper.py``, found through
the backend table by the command layer); this module turns them into :class:`PaperNumber` entries and
selects those that apply to one evaluation. Only values printed in the papers' own tables
(``shared/seeds/*.txt``) are there, each with the table it comes from. A paper's number is comparable to
ours only as far as the conventions match; where they are known to differ, the entry's note says how.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


#: metrics the papers report that facefix does not compute (MUSIQ: see the README), with their direction
NOT_COMPUTED_DIRECTIONS = {"musiq": "higher"}

#: (source, metric) -> how that table's convention differs from facefix's
CONVENTION_NOTES = {
    ("seed 000 (fusion) Table 1", "fid"): "FID reference set not stated in the paper",
    ("seed 004 (InterLCM) Table 1", "ids"): "Deg of VQFR (ArcFace ResNet-18 on gray 128 px); ours uses IR-SE50 on "
                                            "colour: not the same scale",
}


#: source -> its (dataset, metric) columns, for rows given as ``printed`` lists in the table's column order
TABLE_COLUMNS = {
    "seed 004 (InterLCM) Table 1": [
        *(("celeba-test", metric) for metric in ("lpips", "fid", "musiq", "ids", "psnr", "ssim")),
        *((dataset, metric) for dataset in ("lfw-test", "webphoto-test", "wider-test") for metric in ("fid", "musiq")),
    ],
}


def _cells(row: Mapping) -> list[tuple[str, str, str]]:
    """``(dataset, metric, printed)`` of a row: given as ``values`` ({dataset: {metric: printed}}) or as
    ``printed`` (a list in the order of its table's :data:`TABLE_COLUMNS`)."""
    if "printed" in row:
        columns = TABLE_COLUMNS[row["source"]]
        if len(columns) != len(row["printed"]):
            raise ValueError(f"{row['method']}: {len(row['printed'])} numbers for the {len(columns)} columns "
                             f"of {row['source']}")
        return [(dataset, metric, printed) for (dataset, metric), printed in zip(columns, row["printed"])]
    return [(dataset, metric, printed) for dataset, values in row["values"].items()
            for metric, printed in values.items()]


def numbers_from_rows(backend: str, rows: Iterable[Mapping]) -> list[PaperNumber]:
    """One :class:`PaperNumber` per printed value of ``rows``, in order: dicts with ``method``, ``source``,
    the numbers (see :func:`_cells`) and optionally ``setting``."""
    return [PaperNumber(backend, dataset, metric, printed, row["method"], row["source"], row.get("setting"),
                        CONVENTION_NOTES.get((row["source"], metric)))
            for row in rows for dataset, metric, printed in _cells(row)]


def select_numbers(numbers: Iterable[PaperNumber], dataset: str | None,
                   setting: str | None = None) -> list[PaperNumber]:
    """The numbers on this set (and setting), in table order; none without a set."""
    if dataset is None:
        return []
    return [n for n in numbers if n.dataset == dataset and n.setting == setting]
