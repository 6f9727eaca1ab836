"""Score files, the table beside the papers, and the contact sheet's ranking."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from rich.console import Console

from facefix.errors import FacefixError
from facefix.backends import paper_rows
from facefix.eval.paper import numbers_from_rows, select_numbers
from facefix.eval.report import results_table, to_csv, write_new_file
from facefix.eval.runner import EvalResult, Sample
from facefix.eval.sheet import LABEL_HEIGHT, TILE_HEIGHT, contact_sheet, ranked

FUSION_PAPER = numbers_from_rows("fusion", paper_rows("fusion"))


@pytest.fixture
def result():
    psnr = {"a.png": 30.0, "b.png": 20.0, "c.png": 25.0, "d.png": 35.0, "e.png": 22.0}
    return EvalResult(metrics=["psnr", "niqe", "fid"], fid=12.5,
                      per_image={n: {"psnr": v, "niqe": float("nan") if n == "a.png" else 4.0}
                                 for n, v in psnr.items()})


def test_csv_has_one_row_per_image_and_a_mean_row(result):
    rows = list(csv.reader(io.StringIO(to_csv(result))))
    assert rows[0] == ["image", "psnr", "niqe", "fid"]
    assert rows[1] == ["a.png", "30.0", "", ""]  # NaN NIQE is empty, FID only in the mean row
    assert rows[-1] == ["mean", "26.4", "4.0", "12.5"]


def test_files_are_never_overwritten(tmp_path):
    target = tmp_path / "scores.csv"
    write_new_file(target, "first")
    with pytest.raises(FacefixError, match="already exists"):
        write_new_file(target, "second")
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]  # no temporary left behind


def test_table_puts_paper_numbers_beside_ours(result):
    console = Console(width=200, record=True)
    console.print(results_table(result, "fusion on lfw-test", select_numbers(FUSION_PAPER, "lfw-test")))
    text = console.export_text()
    psnr_row = next(line for line in text.splitlines() if "psnr" in line)
    niqe_row = next(line for line in text.splitlines() if "niqe" in line)
    assert "26.400" in psnr_row and "higher" in psnr_row
    assert "4.000" in niqe_row and "3.754" in niqe_row and "3.882" in niqe_row
    assert "seed 000 (fusion) Table 1" in text and "seed 004 (InterLCM) Table 1" in text
    assert "FID reference set not stated" in text  # the starred FID numbers are explained


def test_paper_numbers_keep_their_printed_precision(result):
    console = Console(width=200, record=True)
    console.print(results_table(result, "fusion on celeba-test", select_numbers(FUSION_PAPER, "celeba-test")))
    text = console.export_text()
    assert "0.230" in text and "73.90" in text  # GFPGAN's LPIPS and MUSIQ as seed 004 prints them
    musiq_row = next(line for line in text.splitlines() if "musiq" in line)
    assert " - " in musiq_row and "higher" in musiq_row  # not computed by facefix, direction still shown


def test_ranking_follows_the_metric_direction(result):
    worst, best = ranked(result, "psnr", 2)
    assert worst == ["b.png", "e.png"] and best == ["d.png", "a.png"]
    worst, best = ranked(result, "niqe", 4)  # lower is better; a.png has no NIQE
    assert len(worst) == 2 and len(best) == 2 and not set(worst) & set(best)


def test_sheet_rows_are_input_output_and_ground_truth():
    images = {n: np.full((32, 48, 3), v, np.uint8) for n, v in (("x", 10), ("y", 200))}
    samples = [Sample(n, image, image // 2, output=image // 3) for n, image in images.items()]
    scored = EvalResult(metrics=["psnr"], per_image={"x": {"psnr": 10.0}, "y": {"psnr": 20.0}})
    sheet = contact_sheet(samples, scored, "psnr", 1)
    width = 48 * TILE_HEIGHT // 32
    assert sheet.shape[0] == 2 * (2 * LABEL_HEIGHT + TILE_HEIGHT) + 4 * 4
    assert sheet.shape[1] == 3 * width + 2 * 4
    worst_row = sheet[2 * LABEL_HEIGHT + 4 + TILE_HEIGHT // 2]  # first image row, mid-height: "x"
    assert worst_row[width // 2].tolist() == [10] * 3 and worst_row[width + 4 + width // 2].tolist() == [3] * 3
    assert worst_row[2 * (width + 4) + width // 2].tolist() == [5] * 3
