"""Accuracy of a checkpoint on a split: overall, per class, and the most frequent confusions.

Example:
    >>> from lexnet.checkpoint import load_checkpoint
    >>> report = evaluate_checkpoint(load_checkpoint("ckpt"), test_split)  # doctest: +SKIP
    >>> report.accuracy  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

    from lexnet.checkpoint import Checkpoint
    from lexnet.data.format import FlowDataset

__all__ = ["EvalReport", "evaluate_checkpoint", "predict", "summarize"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalReport:
    """What ``lexnet eval`` prints.

    Attributes:
        flows: flows evaluated.
        accuracy: share predicted correctly.
        per_class: class name -> accuracy on its flows (classes without flows are left out).
        counts: class name -> flows of that class.
        confusions: the most frequent (true class, predicted class, flows) errors, most frequent first.
    """

    flows: int
    accuracy: float
    per_class: dict[str, float]
    counts: dict[str, int]
    confusions: list[tuple[str, str, int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "flows": self.flows,
            "accuracy": self.accuracy,
            "per_class": self.per_class,
            "counts": self.counts,
            "confusions": [{"true": t, "predicted": p, "flows": n} for t, p, n in self.confusions],
        }


def summarize(labels: np.ndarray, predictions: np.ndarray, class_names: list[str], top: int = 10) -> EvalReport:
    """Accuracy, per-class accuracy and the ``top`` most frequent confusions of ``predictions``."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape:
        raise ValueError(f"{labels.shape} labels for {predictions.shape} predictions")
    num_classes = len(class_names)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    counts = confusion.sum(axis=1)
    per_class = {class_names[c]: float(confusion[c, c] / counts[c]) for c in range(num_classes) if counts[c]}
    errors = confusion.copy()
    np.fill_diagonal(errors, 0)
    order = np.argsort(-errors, axis=None, kind="stable")[:top]
    confusions = [
        (class_names[t], class_names[p], int(errors[t, p]))
        for t, p in zip(*np.unravel_index(order, errors.shape), strict=True)
        if errors[t, p] > 0
    ]
    accuracy = float(np.trace(confusion) / max(len(labels), 1))
    return EvalReport(
        flows=len(labels),
        accuracy=accuracy,
        per_class=per_class,
        counts={class_names[c]: int(counts[c]) for c in range(num_classes) if counts[c]},
        confusions=confusions,
    )


def predict(model: nn.Module, inputs: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Predicted classes of scaled flows [N, 1, packets, variables], batch by batch, without gradients."""
    import torch

    from lexnet.models import is_prototype_model

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    predictions = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            output = model(inputs[start : start + batch_size].to(device))
            logits = output.logits if is_prototype_model(model) else output
            predictions.append(logits.argmax(dim=1).cpu())
    model.train(was_training)
    return torch.cat(predictions).numpy() if predictions else np.zeros(0, dtype=np.int64)


def evaluate_checkpoint(
    checkpoint: Checkpoint, data: FlowDataset, batch_size: int = 1024, device: str = "cpu", top: int = 10
) -> EvalReport:
    """Evaluate ``checkpoint`` on ``data``, scaled with the checkpoint's own training statistics."""
    import torch

    from lexnet.errors import DataFormatError

    if [c.name for c in data.classes] != checkpoint.class_names:
        raise DataFormatError(
            f"the data's {len(data.classes)} classes differ from the checkpoint's {len(checkpoint.classes)}"
            " (names or order); evaluate on data with the checkpoint's class list"
        )
    inputs = torch.from_numpy(checkpoint.scaling.apply(data.x))
    predictions = predict(checkpoint.build_model(device), inputs, batch_size)
    report = summarize(data.y, predictions, checkpoint.class_names, top)
    logger.info(
        "evaluated %s on %d flows of %s: accuracy %.4f", checkpoint.config.arch, len(data), data.source, report.accuracy
    )
    return report
