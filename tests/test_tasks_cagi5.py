"""Tests for glmeval_utils.tasks.cagi5: the position subsets and the element tables of chapter 3
(the scoring is tested in test_zeroshot, the evaluation in test_variants)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_glms import random_seq, saturation_table

from glmeval_utils.tasks import cagi5


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_select_positions_keeps_all_alternatives_and_is_deterministic(rng):
    seqs = {"A1": random_seq(rng, 30), "B2": random_seq(rng, 8)}
    table = saturation_table(seqs, with_seq=True)
    chosen = cagi5.select_positions(table, 5, seed=1)
    assert chosen.groupby("element")["offset"].nunique().to_dict() == {"A1": 5, "B2": 5}
    assert (chosen.groupby(["element", "offset"]).size() == 3).all()
    assert list(chosen.columns) == list(table.columns) and (chosen.index == np.arange(len(chosen))).all()
    pd.testing.assert_frame_equal(chosen, cagi5.select_positions(table, 5, seed=1))
    other_seed = cagi5.select_positions(table, 5, seed=2)
    assert set(other_seed[other_seed.element == "A1"].offset) != set(chosen[chosen.element == "A1"].offset)
    # kept rows stay in their original order
    merged = table.reset_index().merge(chosen, on=list(table.columns))
    assert merged["index"].is_monotonic_increasing
    # the draw for the first element does not depend on the others
    only_a = cagi5.select_positions(table, 5, elements=["A1"], seed=1)
    assert set(only_a.offset) == set(chosen[chosen.element == "A1"].offset)
    assert len(cagi5.select_positions(table, 100)) == len(table)
    pd.testing.assert_frame_equal(cagi5.select_positions(table), table.reset_index(drop=True))
    assert set(cagi5.select_positions(table, elements=["B2"]).element) == {"B2"}
    with pytest.raises(ValueError, match="unknown element"):
        cagi5.select_positions(table, 2, elements=["nope"])
    with pytest.raises(ValueError, match="at least 1"):
        cagi5.select_positions(table, 0)
    with pytest.raises(ValueError, match="no column 'offset'"):
        cagi5.select_positions(table.drop(columns="offset"), 2)


def test_select_positions_draw_of_an_element_does_not_depend_on_the_others(rng):
    seqs = {"A1": random_seq(rng, 30), "B2": random_seq(rng, 30)}
    table = saturation_table(seqs)
    chosen = cagi5.select_positions(table, 5, seed=1)
    only_b = cagi5.select_positions(table, 5, elements=["B2"], seed=1)
    assert set(only_b.offset) == set(chosen[chosen.element == "B2"].offset)


def test_paper_elements_and_cell_types():
    assert cagi5.PAPER_ELEMENTS == ("LDLR", "SORT1", "F9", "PKLR")
    assert set(cagi5.PAPER_ELEMENTS) <= set(cagi5.CELL_TYPES)
    assert len(cagi5.CELL_TYPES) == 15  # the CAGI5 regulation-saturation elements
    assert cagi5.CELL_TYPES["PKLR"] == "K562" and cagi5.CELL_TYPES["LDLR"] == "HepG2"
