"""Figures of the paper reproduced from our measurements: per-class accuracy (Figure 4), accuracy against the number
and size of prototypes (Figure 3), and the deletion curve.

matplotlib is imported inside each function (the ``plot`` extra) and always with the non-interactive Agg backend.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lexnet.explain.deletion import DeletionResult
    from lexnet.explain.sweep import SweepPoint

__all__ = ["plot_deletion_curve", "plot_per_class_accuracy", "plot_prototype_sweep"]

logger = logging.getLogger(__name__)

# Beyond this many classes, tick labels would overlap: only every n-th class is named.
_MAX_NAMED_CLASSES = 40


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(figure: Figure, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    logger.info("wrote %s", out)
    return out


def plot_per_class_accuracy(per_class: dict[str, float], counts: dict[str, int], out: Path) -> Path:
    """The paper's Figure 4: accuracy of each class, classes ordered from the most to the least frequent.

    Args:
        per_class: class name -> accuracy (0..1) on the evaluated split.
        counts: class name -> number of flows of that class in the evaluated split.
        out: the PNG to write.

    Returns:
        ``out``.
    """
    missing = sorted(set(per_class) - set(counts))
    if missing:
        raise ValueError(f"counts has no entry for classes {missing[:5]}")
    names = sorted(per_class, key=lambda name: (-counts[name], name))
    accuracy = np.array([per_class[n] for n in names])
    flows = np.array([counts[n] for n in names])
    positions = np.arange(len(names))
    figure = _figure(max(8.0, min(0.12 * len(names), 24.0)), 6.0)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    top.bar(positions, 100 * accuracy, color="tab:blue", width=0.8)
    weighted = float(np.average(accuracy, weights=flows)) if flows.sum() else float("nan")
    top.axhline(100 * weighted, color="tab:red", linestyle="--", label=f"overall {100 * weighted:.1f}%")
    top.set_ylabel("accuracy (%)")
    top.set_ylim(0, 100)
    top.legend(loc="lower left")
    top.set_title("Per-class accuracy, classes ordered by number of flows (paper's Figure 4)")
    bottom.bar(positions, flows, color="tab:gray", width=0.8)
    bottom.set_yscale("log")
    bottom.set_ylabel("flows")
    step = max(1, int(np.ceil(len(names) / _MAX_NAMED_CLASSES)))
    bottom.set_xticks(positions[::step], [names[i] for i in positions[::step]], rotation=90, fontsize=7)
    bottom.set_xlabel("class" if step == 1 else f"class (every {step}th named)")
    return _save(figure, out)


def plot_prototype_sweep(points: list[SweepPoint], out: Path) -> Path:
    """The paper's Figure 3: test accuracy against prototypes per class, one line per prototype shape."""
    figure = _figure(7.0, 4.5)
    axes = figure.subplots()
    for shape in sorted({p.prototype_shape for p in points}):
        line = sorted((p for p in points if p.prototype_shape == shape), key=lambda p: p.prototypes_per_class)
        axes.plot(
            [p.prototypes_per_class for p in line],
            [100 * p.accuracy for p in line],
            marker="o",
            label=f"prototype {shape[0]}x{shape[1]} (packets x variables)",
        )
    axes.set_xlabel("prototypes per class")
    axes.set_ylabel("test accuracy (%)")
    axes.set_xticks(sorted({p.prototypes_per_class for p in points}))
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title("Accuracy vs number and size of prototypes (paper's Figure 3)")
    return _save(figure, out)


def plot_deletion_curve(result: DeletionResult, out: Path, model: str = "") -> Path:
    """Mean drop of the predicted class's probability against the number of deleted cells, per method."""
    figure = _figure(7.0, 4.5)
    axes = figure.subplots()
    for method, drops in result.probability_drop.items():
        style = ":" if method == "random" else "-"
        axes.plot(result.ks, drops, style, marker="o", label=method)
    axes.set_xlabel("cells deleted (set to 'no packet'), most important first")
    axes.set_ylabel("mean drop of the predicted\nclass's probability")
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_xticks(result.ks)
    on = f" of {model}" if model else ""
    axes.set_title(f"Deletion test{on}, {result.flows} flows: a steeper drop = the cells the model uses", fontsize=10)
    return _save(figure, out)
