"""The papers' numbers: each one is printed in its seed paper, and lookups select by backend, set, setting."""

from __future__ import annotations

import pytest
from conftest import shared_path

from facefix.backends import BACKENDS, paper_rows
from facefix.eval.paper import NOT_COMPUTED_DIRECTIONS, numbers_from_rows, select_numbers
from facefix.quality.metrics import METRICS

PAPER_NUMBERS = [number for name in BACKENDS for number in numbers_from_rows(name, paper_rows(name))]


def paper_numbers(backend, dataset, setting=None):
    return select_numbers(numbers_from_rows(backend, paper_rows(backend)), dataset, setting)

SEED_FILES = {"seed 000": "000_", "seed 001": "001_", "seed 004": "004_"}


@pytest.mark.parametrize("prefix", sorted(SEED_FILES))
def test_every_number_is_printed_in_its_paper(prefix):
    (paper,) = shared_path("seeds").glob(f"{SEED_FILES[prefix]}*.txt")
    text = paper.read_text()
    numbers = [n for n in PAPER_NUMBERS if n.source.startswith(prefix)]
    assert numbers
    for number in numbers:
        assert number.printed in text, (number, paper.name)


def test_lookup_selects_backend_set_and_setting():
    lfw = paper_numbers("fusion", "lfw-test")
    assert {(n.method, n.metric, n.value) for n in lfw if n.source.startswith("seed 000")} == {
        ("fusion (paper)", "fid", 49.36), ("fusion (paper)", "niqe", 3.754),
        ("GFPGAN", "fid", 49.96), ("GFPGAN", "niqe", 3.882)}
    assert {(n.metric, n.value) for n in paper_numbers("ddpm", "celeba-hq-test", "random")} == {
        ("psnr", 25.01), ("ssim", 0.886)}
    assert {(n.metric, n.value) for n in paper_numbers("ddpm", "celeba-hq-test", "center")} == {
        ("psnr", 24.93), ("ssim", 0.882)}
    assert paper_numbers("ddpm", "celeba-hq-test") == []  # no setting: the paper has no maskless number
    assert paper_numbers("fusion", None) == []


def test_every_metric_has_a_direction_and_ids_is_flagged_as_another_scale():
    for number in PAPER_NUMBERS:
        assert number.metric in METRICS or number.metric in NOT_COMPUTED_DIRECTIONS
    assert all(n.note for n in PAPER_NUMBERS if n.metric == "ids")
