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


def numbers_from_rows(backend: str, rows: Iterable[Mapping]) -> list[PaperNumber]:
    """One :class:`PaperNumber` per printed value of ``rows``: dicts with ``method``, ``source``, ``dataset``,
    ``values`` ({metric: printed}) and optionally ``setting`` and ``notes`` ({metric: note}), in order."""
    return [PaperNumber(backend, row["dataset"], metric, printed, row["method"], row["source"], row.get("setting"),
                        row.get("notes", {}).get(metric))
            for row in rows for metric, printed in row["values"].items()]


def select_numbers(numbers: Iterable[PaperNumber], dataset: str | None,
                   setting: str | None = None) -> list[PaperNumber]:
    """The numbers on this set (and setting), in table order; none without a set."""
    if dataset is None:
        return []
    return [n for n in numbers if n.dataset == dataset and n.setting == setting]
