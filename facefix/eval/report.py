"""What an evaluation leaves behind: the terminal table (ours beside the papers'), JSON and CSV files.

Score files are never overwritten: every target is checked before any work starts, and written under a
temporary name that is renamed when complete.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from rich.table import Table

from facefix import files
from facefix.errors import FacefixError
from facefix.quality.metrics import METRICS
from facefix.eval.paper import NOT_COMPUTED_DIRECTIONS, PaperNumber
from facefix.eval.runner import EvalResult

SCORE_FORMATS = (".json", ".csv")


def check_new_file(path: Path, option: str) -> None:
    """Refuse a target that exists (user files are never replaced) or whose folder cannot be made."""
    if path.exists():
        raise FacefixError(f"{path}: already exists; {option} never overwrites a file")
    if path.parent.exists() and not path.parent.is_dir():
        raise FacefixError(f"{path}: {path.parent} is not a folder")


def check_score_outputs(paths: list[Path]) -> None:
    for path in paths:
        if path.suffix.lower() not in SCORE_FORMATS:
            raise FacefixError(f"{path}: --scores takes .json or .csv files")
        check_new_file(path, "--scores")


def write_new_file(path: Path, data: str | bytes) -> None:
    """Write atomically, and only if nothing is there (checked again: the run may have been long)."""
    check_new_file(path, "facefix eval")
    files.write_bytes(path, data)


def _cell(value: float | None) -> str:
    return "" if value is None or np.isnan(value) else repr(float(value))


def to_csv(result: EvalResult) -> str:
    """One row per image, then a ``mean`` row (FID is a set-level number: only in the mean row)."""
    columns = list(result.metrics)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", *columns])
    for name, values in result.per_image.items():
        writer.writerow([name, *(_cell(values.get(c)) for c in columns)])
    means = result.means()
    writer.writerow(["mean", *(_cell(means.get(c)) for c in columns)])
    return buffer.getvalue()


def write_scores(paths: list[Path], result: EvalResult, paper: list[PaperNumber], header: dict) -> None:
    for path in paths:
        if path.suffix.lower() == ".csv":
            write_new_file(path, to_csv(result))
        else:
            report = {**header, **result.to_dict(),
                      "paper": [{"method": n.method, "source": n.source, "metric": n.metric, "value": n.value,
                                 **({"note": n.note} if n.note else {})} for n in paper]}
            write_new_file(path, json.dumps(report, indent=2))


def _ours(metric: str, value: float) -> str:
    return f"{value:.4f}" if metric in ("ssim", "lpips") else f"{value:.3f}"


def _published(number: PaperNumber) -> str:
    """As printed in the paper, starred when its convention differs from ours."""
    return number.printed + ("*" if number.note else "")


def results_table(result: EvalResult, title: str, paper: list[PaperNumber]) -> Table:
    """Our means beside each paper method's numbers for this set (one column per method and source)."""
    columns = list(dict.fromkeys((n.method, n.source) for n in paper))
    table = Table("metric", "ours", "better", *(f"{method}\n[dim]{source}[/]" for method, source in columns),
                  title=title)
    ours = result.means()
    published = {(n.method, n.source, n.metric): n for n in paper}
    metrics = list(dict.fromkeys([*ours, *(n.metric for n in paper)]))
    notes = []
    for metric in metrics:
        info = METRICS.get(metric)
        direction = NOT_COMPUTED_DIRECTIONS.get(metric, "") if info is None else \
            ("lower" if info.lower_better else "higher")
        row = [metric, _ours(metric, ours[metric]) if metric in ours else "-", direction]
        for method, source in columns:
            number = published.get((method, source, metric))
            row.append("" if number is None else _published(number))
            if number is not None and number.note:
                notes.append(f"{metric}: {number.note}")
        table.add_row(*row)
    if paper:
        table.caption = "\n".join(["* " + note for note in dict.fromkeys(notes)]
                                  + ["papers' numbers are on the full published set with their own runs"])
    return table
