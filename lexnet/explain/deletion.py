"""The deletion test: remove the k cells a method names as most important and watch the predicted class's score.

Unlike Table 6, no method is taken as ground truth: a ranking is better when deleting its top cells makes the
model's predicted-class probability drop faster. A cell is deleted by giving it the scaled value of "no packet"
(size 0, direction 0), the value a padded packet has, so masked flows stay inside the data's range.

Rankings compared (all on the same model):

- ``prototypes``: LEXNet's own explanation, the cells where the predicted class's prototypes matched, then the
  remaining cells by their distance to the nearest of those prototypes;
- any post-hoc attribution (Grad-CAM, SHAP), largest first;
- ``random``: a random order, the floor any method should beat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lexnet.models import PrototypeClassifier
from lexnet.spec import Scaling

__all__ = [
    "DeletionResult",
    "deletion_test",
    "format_deletion_table",
    "no_packet_fill",
    "prototype_ranking",
    "random_ranking",
]


def no_packet_fill(scaling: Scaling, packets: int) -> np.ndarray:
    """The scaled value of an absent packet, per cell [packets, variables]."""
    return scaling.apply(np.zeros((1, packets), dtype=np.int64))[0, 0]


def random_ranking(flows: int, cells: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(cells) for _ in range(flows)])


def _cell_distances(model: PrototypeClassifier, x: torch.Tensor, predicted: np.ndarray) -> np.ndarray:
    """Per flow and cell, the smallest distance to a predicted-class prototype whose patch covers the cell."""
    height, width = model.config.prototype_shape
    classes = model.config.prototype_classes()
    with torch.inference_mode():
        distances = model.prototype_layer.distance_map(model.features(x)).numpy()
    n, _, rows, cols = distances.shape
    packets, variables = rows + height - 1, cols + width - 1
    cell = np.full((n, packets, variables), np.inf)
    for i, label in enumerate(predicted):
        nearest = distances[i, classes == label].min(axis=0)
        for dp in range(height):
            for dv in range(width):
                view = cell[i, dp : dp + rows, dv : dv + cols]
                np.minimum(view, nearest, out=view)
    return cell.reshape(n, -1)


def prototype_ranking(model: PrototypeClassifier, scaled: np.ndarray) -> np.ndarray:
    """LEXNet's ranking [N, cells]: matched cells first (most similar prototype first), then by distance."""
    x = torch.as_tensor(scaled)
    with torch.inference_mode():
        out = model(x)
    predicted = out.logits.argmax(1).numpy()
    positions, similarities = out.positions.numpy(), out.similarities.numpy()
    height, width = model.config.prototype_shape
    variables = scaled.shape[-1]
    classes = model.config.prototype_classes()
    rest = np.argsort(_cell_distances(model, x, predicted), axis=1, kind="stable")
    ranking = np.empty_like(rest)
    for i, label in enumerate(predicted):
        prototypes = np.flatnonzero(classes == label)
        first: list[int] = []
        for prototype in prototypes[np.argsort(-similarities[i, prototypes], kind="stable")]:
            packet, variable = positions[i, prototype]
            for dp in range(height):
                for dv in range(width):
                    index = int((packet + dp) * variables + variable + dv)
                    if index not in first:
                        first.append(index)
        ranking[i] = first + [int(c) for c in rest[i] if c not in first]
    return ranking


@dataclass
class DeletionResult:
    """Mean effect of deleting each method's top-k cells, per method, over ``flows`` flows.

    Attributes:
        ks: numbers of deleted cells (0 = nothing deleted).
        probability_drop: method -> [len(ks)] mean drop of the originally predicted class's probability.
        changed: method -> [len(ks)] share of flows whose predicted class changed.
    """

    flows: int
    ks: list[int]
    probability_drop: dict[str, list[float]] = field(default_factory=dict)
    changed: dict[str, list[float]] = field(default_factory=dict)


def _probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        out = model(x)
        return torch.softmax(getattr(out, "logits", out), dim=1)


def deletion_test(
    model: nn.Module,
    scaled: np.ndarray,
    rankings: dict[str, np.ndarray],
    fill: np.ndarray,
    ks: tuple[int, ...] = (0, 1, 2, 3, 4, 6, 8, 10, 15, 20),
) -> DeletionResult:
    """Delete each ranking's top-k cells of every flow and measure the drop of the predicted class's probability.

    Args:
        model: the model explained (eval mode); the rankings must come from explanations of this model.
        scaled: scaled inputs [N, 1, packets, variables].
        rankings: method -> [N, cells] flat cell indices, most important first (see ``cell_ranking``).
        fill: [packets, variables] the value a deleted cell takes (see ``no_packet_fill``).
        ks: numbers of cells to delete.
    """
    x = torch.as_tensor(scaled)
    base = _probabilities(model, x)
    predicted = base.argmax(1)
    base_p = base.gather(1, predicted[:, None])[:, 0]
    flat_fill = torch.as_tensor(fill, dtype=x.dtype).reshape(-1)
    result = DeletionResult(len(x), list(ks))
    for method, ranking in rankings.items():
        if ranking.shape != (len(x), flat_fill.numel()):
            raise ValueError(f"{method}: ranking shape {ranking.shape}, expected {(len(x), flat_fill.numel())}")
        drops, changed = [], []
        for k in ks:
            masked = x.reshape(len(x), -1).clone()
            top = torch.as_tensor(ranking[:, :k], dtype=torch.long)
            masked.scatter_(1, top, flat_fill[top])
            probabilities = _probabilities(model, masked.view_as(x))
            drops.append(float((base_p - probabilities.gather(1, predicted[:, None])[:, 0]).mean()))
            changed.append(float((probabilities.argmax(1) != predicted).float().mean()))
        result.probability_drop[method], result.changed[method] = drops, changed
    return result


def format_deletion_table(result: DeletionResult) -> str:
    """Markdown table: mean probability drop (and share of changed predictions) per method and k."""
    header = ["method", *[f"k={k}" for k in result.ks if k > 0]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, drops in result.probability_drop.items():
        cells = [
            f"{d:+.3f} ({100 * c:.0f}%)"
            for k, d, c in zip(result.ks, drops, result.changed[method], strict=True)
            if k > 0
        ]
        lines.append("| " + " | ".join([method, *cells]) + " |")
    return "\n".join(lines)
