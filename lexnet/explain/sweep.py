"""The paper's Figure 3 on a budget: test accuracy of LEXNet against the number and size of its prototypes.

One small LEXNet per (prototypes per class, prototype shape), each trained with our short recipe cut to the
budget (epochs, training flows) through ``lexnet.train``. Finished models are kept under ``out/models`` and reused
when the sweep is run again with the same budget.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lexnet.checkpoint import METADATA_FILE, Checkpoint, load_checkpoint, read_checkpoint_metadata
from lexnet.data.format import FlowDataset
from lexnet.spec import ModelConfig

__all__ = ["SweepBudget", "SweepPoint", "parse_shape", "run_sweep"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepBudget:
    """What each model of the sweep may use.

    Attributes:
        epochs: warm-up plus joint epochs per model (a projection and last-layer passes always end the run).
        max_flows: training flows per model, drawn at random (stratification is left to the data).
        batch_size: flows per step.
        max_test_flows: test flows each model is scored on.
    """

    epochs: int = 6
    max_flows: int = 20000
    batch_size: int = 256
    max_test_flows: int = 10000

    def __post_init__(self) -> None:
        if self.epochs < 2:
            raise ValueError(f"a LEXNet needs at least 2 epochs (warm-up and joint), got {self.epochs}")
        if self.max_flows < 1 or self.batch_size < 1 or self.max_test_flows < 1:
            raise ValueError(f"max_flows, batch_size and max_test_flows must be positive: {self}")


@dataclass(frozen=True)
class SweepPoint:
    """One trained model of the sweep."""

    prototypes_per_class: int
    prototype_shape: tuple[int, int]
    accuracy: float
    parameters: int
    seconds: float


def parse_shape(text: str) -> tuple[int, int]:
    """ "2x1" -> (2, 1): packets x variables."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"prototype shape must look like 2x1 (packets x variables), got {text!r}") from None
    return height, width


def _subset(data: FlowDataset, limit: int, seed: int) -> FlowDataset:
    if len(data) <= limit:
        return data
    index = np.sort(np.random.default_rng(seed).choice(len(data), size=limit, replace=False))
    return data.subset(index)


def _train_one(
    train: FlowDataset,
    test: FlowDataset,
    config: ModelConfig,
    budget: SweepBudget,
    out: Path,
    seed: int,
    progress: bool,
) -> SweepPoint:
    from lexnet.models import count_parameters
    from lexnet.train import RECIPES, TrainOptions
    from lexnet.train import train as train_model

    recipe = RECIPES["short"].replace(epochs=budget.epochs, batch_size=budget.batch_size, seed=seed)
    reused = False
    if (out / METADATA_FILE).is_file():
        meta = read_checkpoint_metadata(out)
        reused = meta["config"] == config.to_dict() and meta["training"].get("recipe") == recipe.to_dict()
        reused = reused and meta["training"].get("train_flows") == len(train)
    started = time.perf_counter()
    checkpoint: Checkpoint | None
    if reused:
        checkpoint = load_checkpoint(out)
        logger.info("reusing %s", out)
    else:
        checkpoint = train_model("lexnet", train, test, out, recipe, TrainOptions(progress=progress), config)
    if checkpoint is None:
        raise RuntimeError(f"training {out} stopped before the end")
    seconds = float(checkpoint.training.get("wall_seconds", time.perf_counter() - started))
    return SweepPoint(
        config.prototypes_per_class,
        config.prototype_shape,
        float(checkpoint.metrics["test_accuracy"]),
        count_parameters(checkpoint.build_model()),
        seconds,
    )


def run_sweep(
    train: FlowDataset,
    test: FlowDataset,
    prototypes: list[int],
    shapes: list[tuple[int, int]],
    budget: SweepBudget,
    out: str | Path,
    seed: int = 0,
    progress: bool = True,
) -> list[SweepPoint]:
    """Train one LEXNet per (prototypes per class, shape) and write ``out/sweep.json``; returns the points.

    Example:
        >>> points = run_sweep(train, test, [1, 2], [(1, 1), (2, 1)], SweepBudget(epochs=4), "sweep")  # doctest: +SKIP
    """
    out = Path(out)
    train, test = _subset(train, budget.max_flows, seed), _subset(test, budget.max_test_flows, seed + 1)
    base = ModelConfig(arch="lexnet", num_classes=len(train.classes))
    points = []
    for shape in shapes:
        for count in prototypes:
            config = base.replace(prototypes_per_class=count, prototype_shape=shape)
            where = out / "models" / f"p{count}_{shape[0]}x{shape[1]}"
            point = _train_one(train, test, config, budget, where, seed, progress)
            logger.info("sweep %d prototypes of %dx%d: test accuracy %.4f", count, *shape, point.accuracy)
            points.append(point)
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "budget": asdict(budget),
        "train_flows": len(train),
        "test_flows": len(test),
        "points": [asdict(p) for p in points],
    }
    (out / "sweep.json").write_text(json.dumps(payload, indent=1) + "\n")
    return points
