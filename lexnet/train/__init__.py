"""Training: the paper's recipe (warm-up, joint, projection, last layer), resumable, single or multi-process."""

from __future__ import annotations

from lexnet.train.config import RECIPES, Step, TrainConfig, plan_schedule
from lexnet.train.distributed import DistributedContext
from lexnet.train.loop import TrainOptions, train

__all__ = ["RECIPES", "DistributedContext", "Step", "TrainConfig", "TrainOptions", "plan_schedule", "train"]
