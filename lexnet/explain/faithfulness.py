"""The paper's faithfulness test (Table 6): do a post-hoc method's top-k cells hold LEXNet's prototype matches?

For each flow, LEXNet names where the prototypes of its predicted class matched (two (1, 1) cells with the
default configuration). A post-hoc attribution ranks the flow's packets x variables cells; the flow counts as a
hit at k when all the prototype cells are among the top-k cells of that ranking. Table 6 reports the share of
hits at k = 2 and k = 10. The share of flows with at least one prototype cell in the top k is given beside it.

Only numpy is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "FaithfulnessRow",
    "cell_ranking",
    "faithfulness",
    "format_table",
    "prototype_cells",
    "top_k_hits",
]


def cell_ranking(attributions: np.ndarray) -> np.ndarray:
    """Flat cell indices [N, packets * variables], most important first (the first cell wins a tie)."""
    flat = np.asarray(attributions, dtype=np.float64).reshape(len(attributions), -1)
    return np.argsort(-flat, axis=1, kind="stable")


def prototype_cells(
    positions: np.ndarray,
    predicted: np.ndarray,
    prototype_classes: np.ndarray,
    prototype_shape: tuple[int, int],
    map_shape: tuple[int, int],
) -> list[np.ndarray]:
    """Per flow, the flat indices of the cells covered by the predicted class's prototypes (sorted, unique).

    Args:
        positions: [N, P, 2] (packet, variable) of each prototype's match (top-left corner).
        predicted: [N] predicted class.
        prototype_classes: [P] class of each prototype.
        prototype_shape: (height, width) of a prototype.
        map_shape: (packets, variables) of the flow.
    """
    height, width = prototype_shape
    packets, variables = map_shape
    cells = []
    for row, label in enumerate(predicted):
        covered = set()
        for prototype in np.flatnonzero(prototype_classes == label):
            packet, variable = (int(v) for v in positions[row, prototype])
            for p in range(packet, min(packet + height, packets)):
                for v in range(variable, min(variable + width, variables)):
                    covered.add(p * variables + v)
        cells.append(np.asarray(sorted(covered), dtype=np.int64))
    return cells


def top_k_hits(ranking: np.ndarray, cells: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per flow: (all prototype cells in the top k, at least one of them in the top k)."""
    if not 1 <= k <= ranking.shape[1]:
        raise ValueError(f"k must be in 1..{ranking.shape[1]}, got {k}")
    every = np.zeros(len(cells), dtype=bool)
    some = np.zeros(len(cells), dtype=bool)
    for row, wanted in enumerate(cells):
        found = np.isin(wanted, ranking[row, :k])
        every[row], some[row] = bool(found.all()), bool(found.any())
    return every, some


@dataclass(frozen=True)
class FaithfulnessRow:
    """One method's row of Table 6: share of flows (0..1) per k."""

    method: str
    flows: int
    all_in_top: dict[int, float]
    any_in_top: dict[int, float]


def faithfulness(
    method: str, attributions: np.ndarray, cells: list[np.ndarray], ks: tuple[int, ...] = (2, 10)
) -> FaithfulnessRow:
    """Table 6's row for one method's attributions [N, packets, variables] against the prototype ``cells``."""
    if len(attributions) != len(cells):
        raise ValueError(f"{len(attributions)} attributions for {len(cells)} flows")
    ranking = cell_ranking(attributions)
    every, some = {}, {}
    for k in ks:
        hits_all, hits_any = top_k_hits(ranking, cells, k)
        every[k], some[k] = float(hits_all.mean()), float(hits_any.mean())
    return FaithfulnessRow(method, len(cells), every, some)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def format_table(rows: list[FaithfulnessRow], paper: dict[str, dict[int, float]] | None = None) -> str:
    """Markdown table: per method and k, our share of flows with all prototype cells in the top k, the paper's
    figure beside it ("n/a" where the paper gives none), and the share with at least one."""
    paper = paper or {}
    ks = sorted({k for row in rows for k in row.all_in_top})
    header = ["method", "flows"]
    for k in ks:
        header += [f"top-{k} all (ours)", f"top-{k} all (paper)", f"top-{k} any (ours)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.method, str(row.flows)]
        for k in ks:
            cells += [
                _percent(row.all_in_top.get(k)),
                _percent(paper.get(row.method, {}).get(k)),
                _percent(row.any_in_top.get(k)),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
