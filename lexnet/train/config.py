"""The training recipe as one frozen dataclass, and the schedule of stages it unrolls into.

The paper's recipe (the authors' public code, restated in DESIGN.md) is the default. ``RECIPES["short"]`` is
ours: the same stages in the same order, sized for a CPU budget of minutes instead of days.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["RECIPES", "STAGES", "Step", "TrainConfig", "plan_schedule"]

# warmup: add-on layers and prototypes; joint: backbone, add-on and prototypes; push: projection of the
# prototypes onto training feature vectors (no gradient step); last_layer: the last layer only;
# plain: cross-entropy training of a model without prototypes.
STAGES = ("warmup", "joint", "push", "last_layer", "plain")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train one model.

    Attributes:
        epochs: warm-up plus joint epochs (the paper's epoch count; last-layer passes come on top).
        batch_size: flows per optimisation step.
        seed: seeds the weights' initialisation and every epoch's shuffling.
        warmup_epochs: epochs that train only the add-on layers and the prototypes.
        warmup_lr: Adam learning rate of the prototypes during warm-up.
        features_lr: backbone learning rate in the joint stage.
        features_weight_decay: backbone (and add-on) weight decay.
        addon_lr: learning rate of ProtoPNet's add-on layers (ProtoPNet's own value; LEXNet has none).
        prototypes_lr: prototype learning rate in the joint stage.
        lr_step_epochs: the joint stage's learning rates halve (``lr_gamma``) every this many joint epochs.
        lr_gamma: step decay factor.
        push_start: first epoch after which the prototypes are projected.
        push_every: epochs between projections. The last epoch always ends with one, so the final model's
            prototypes are real training feature vectors (the paper's code kept the best pushed model instead).
        last_layer_epochs: passes of last-layer-only training after each projection.
        last_layer_lr: their Adam learning rate.
        cluster_weight: weight of the cluster cost (pulls each flow towards a prototype of its class).
        separation_weight: weight of the separation cost, subtracted (pushes it away from other classes').
        prototype_l2: weight of the L2 norm of the prototype tensor.
        last_layer_penalty: weight of the norm of the last-layer weights from prototypes to other classes.
        last_layer_norm: order of that norm (DESIGN.md restates the authors' code with 2; ProtoPNet used 1).
        plain_lr: Adam learning rate of models without prototypes (cross-entropy only).
        plain_weight_decay: their weight decay.
    """

    epochs: int = 1000
    batch_size: int = 1024
    seed: int = 0
    warmup_epochs: int = 5
    warmup_lr: float = 0.1
    features_lr: float = 1e-3
    features_weight_decay: float = 1e-3
    addon_lr: float = 3e-3
    prototypes_lr: float = 0.1
    lr_step_epochs: int = 100
    lr_gamma: float = 0.5
    push_start: int = 10
    push_every: int = 20
    last_layer_epochs: int = 20
    last_layer_lr: float = 1e-2
    cluster_weight: float = 0.8
    separation_weight: float = 0.08
    prototype_l2: float = 1e-3
    last_layer_penalty: float = 1e-4
    last_layer_norm: float = 2.0
    plain_lr: float = 1e-3
    plain_weight_decay: float = 1e-3

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "push_every", "lr_step_epochs")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup_epochs", "push_start", "last_layer_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return cls(**data)


RECIPES: dict[str, TrainConfig] = {
    # The paper: 1000 epochs of batch 1024; weeks of CPU time on AppClassNet.
    "paper": TrainConfig(),
    # Ours, for a CPU budget: every stage of the paper, in its order, with fewer and smaller steps. Batches
    # of 256 give a few thousand flows per class enough updates per epoch; projections come every 10 epochs
    # instead of 20 and are each followed by 5 last-layer passes instead of 20.
    "short": TrainConfig(epochs=30, batch_size=256, warmup_epochs=3, push_start=10, push_every=10, last_layer_epochs=5),
}


@dataclass(frozen=True)
class Step:
    """One unit of the schedule: a pass over the training data, or a projection.

    Attributes:
        index: position in the schedule (the resume point counts these).
        stage: one of ``STAGES``.
        epoch: the epoch (warm-up or joint) this step belongs to.
        joint_epoch: joint epochs finished before this step (drives the step decay).
    """

    index: int
    stage: str
    epoch: int
    joint_epoch: int


def plan_schedule(config: TrainConfig, prototype_model: bool) -> list[Step]:
    """Unroll the recipe into steps.

    Prototype models: warm-up epochs, then joint epochs; after epoch ``push_start`` and every ``push_every``
    epochs, and always after the last epoch, a projection followed by ``last_layer_epochs`` passes of the
    last layer alone. At least one epoch each of warm-up and joint training is kept, whatever the budget.
    Other models: ``epochs`` passes of plain cross-entropy training.

    Example:
        >>> [s.stage for s in plan_schedule(TrainConfig(epochs=3, warmup_epochs=1, last_layer_epochs=1), True)]
        ['warmup', 'joint', 'joint', 'push', 'last_layer']
    """
    if not prototype_model:
        return [Step(e, "plain", e, 0) for e in range(config.epochs)]
    if config.epochs < 2:
        raise ValueError(f"a prototype model needs at least 2 epochs (warm-up and joint), got {config.epochs}")
    warmup = min(max(config.warmup_epochs, 1), config.epochs - 1)
    push_epochs = set(range(config.push_start, config.epochs, config.push_every)) | {config.epochs - 1}
    steps: list[Step] = []
    joint_done = 0

    def add(stage: str, epoch: int) -> None:
        steps.append(Step(len(steps), stage, epoch, joint_done))

    for epoch in range(config.epochs):
        add("warmup" if epoch < warmup else "joint", epoch)
        joint_done += epoch >= warmup
        if epoch in push_epochs:
            add("push", epoch)
            for _ in range(max(config.last_layer_epochs, 1)):
                add("last_layer", epoch)
    return steps
