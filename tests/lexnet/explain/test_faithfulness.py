from __future__ import annotations

import numpy as np
import pytest

from lexnet.explain.faithfulness import (
    cell_ranking,
    faithfulness,
    format_table,
    prototype_cells,
    top_k_hits,
)

PACKETS, VARIABLES = 20, 2


def _attributions(order: list[tuple[int, int]]) -> np.ndarray:
    """A [packets, variables] map whose ranking starts with ``order`` (then the remaining cells, all lower)."""
    values = np.zeros((PACKETS, VARIABLES))
    for rank, (packet, variable) in enumerate(order):
        values[packet, variable] = 100.0 - rank
    return values


def test_hand_built_case_gives_the_known_shares() -> None:
    # Two classes, two (1, 1) prototypes each; every flow is predicted class 1 (prototypes 2 and 3).
    prototype_classes = np.array([0, 0, 1, 1])
    positions = np.zeros((3, 4, 2), dtype=np.int64)
    positions[:, 2] = [5, 0]
    positions[:, 3] = [7, 1]
    positions[:, 0] = [19, 1]  # class 0's prototypes must be ignored
    predicted = np.array([1, 1, 1])
    cells = prototype_cells(positions, predicted, prototype_classes, (1, 1), (PACKETS, VARIABLES))
    assert [c.tolist() for c in cells] == [[10, 15]] * 3  # flat index = packet * 2 + variable

    attributions = np.stack(
        [
            _attributions([(7, 1), (5, 0)]),  # both in the top 2
            _attributions([(5, 0), (0, 0), (1, 0), (2, 0), (7, 1)]),  # one in the top 2, both in the top 10
            _attributions([(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1), (4, 0), (4, 1)]),
        ]
    )
    row = faithfulness("method", attributions, cells)
    assert row.flows == 3
    assert row.all_in_top == {2: pytest.approx(1 / 3), 10: pytest.approx(2 / 3)}
    assert row.any_in_top == {2: pytest.approx(2 / 3), 10: pytest.approx(2 / 3)}


def test_ties_rank_the_first_cell_first() -> None:
    ranking = cell_ranking(np.zeros((1, PACKETS, VARIABLES)))
    assert ranking[0, :3].tolist() == [0, 1, 2]


def test_taller_prototypes_cover_their_cells_and_stop_at_the_edge() -> None:
    positions = np.array([[[3, 1], [19, 0]]])
    cells = prototype_cells(positions, np.array([0]), np.array([0, 0]), (2, 1), (PACKETS, VARIABLES))
    assert cells[0].tolist() == [7, 9, 38]  # (3,1), (4,1), (19,0); (20,0) is past the last packet


def test_same_cell_matched_twice_counts_once() -> None:
    positions = np.array([[[4, 0], [4, 0]]])
    cells = prototype_cells(positions, np.array([0]), np.array([0, 0]), (1, 1), (PACKETS, VARIABLES))
    every, some = top_k_hits(cell_ranking(_attributions([(4, 0)])[None]), cells, 1)
    assert every.tolist() == [True]
    assert some.tolist() == [True]


def test_k_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"k must be in 1\.\.40"):
        top_k_hits(np.zeros((1, 40), dtype=np.int64), [np.array([0])], 41)


def test_table_prints_paper_figures_or_na() -> None:
    cells = [np.array([0, 1])]
    row = faithfulness("Grad-CAM", _attributions([(0, 0), (0, 1)])[None], cells)
    text = format_table([row], {"Grad-CAM": {2: 0.5}})
    assert "| Grad-CAM | 1 | 100.0% | 50.0% | 100.0% | 100.0% | n/a | 100.0% |" in text
