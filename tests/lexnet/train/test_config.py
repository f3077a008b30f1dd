from __future__ import annotations

import pytest

from lexnet.train.config import RECIPES, STAGES, TrainConfig, plan_schedule


def _stages(config: TrainConfig, prototype_model: bool = True) -> list[str]:
    return [step.stage for step in plan_schedule(config, prototype_model)]


def test_paper_schedule_counts() -> None:
    steps = plan_schedule(RECIPES["paper"], True)
    stages = [s.stage for s in steps]
    # Pushes after epochs 10, 30, ..., 990 and after the last epoch (999): 51, each followed by 20 last-layer passes.
    assert stages.count("push") == 51
    assert stages.count("last_layer") == 51 * 20
    assert stages.count("warmup") == 5
    assert stages.count("joint") == 995
    assert stages[:5] == ["warmup"] * 5
    assert [s.epoch for s in steps if s.stage == "push"][:3] == [10, 30, 50]
    assert [s.index for s in steps] == list(range(len(steps)))


def test_schedule_ends_with_push_then_last_layer() -> None:
    stages = _stages(RECIPES["short"])
    last_push = len(stages) - 1 - stages[::-1].index("push")
    assert set(stages[last_push + 1 :]) == {"last_layer"}
    assert set(stages) == {"warmup", "joint", "push", "last_layer"}


def test_tiny_budget_keeps_every_stage() -> None:
    config = TrainConfig(epochs=2, warmup_epochs=5, push_start=10, last_layer_epochs=0)
    assert _stages(config) == ["warmup", "joint", "push", "last_layer"]
    with pytest.raises(ValueError, match="at least 2 epochs"):
        plan_schedule(TrainConfig(epochs=1), True)


def test_step_decay_counts_joint_epochs() -> None:
    config = TrainConfig(epochs=8, warmup_epochs=2, lr_step_epochs=3, push_start=100, last_layer_epochs=1)
    joint = [s.joint_epoch for s in plan_schedule(config, True) if s.stage == "joint"]
    assert joint == [0, 1, 2, 3, 4, 5]


def test_plain_models_train_every_epoch_with_cross_entropy() -> None:
    assert _stages(TrainConfig(epochs=3), prototype_model=False) == ["plain"] * 3
    assert set(STAGES) >= {"plain", "push"}


def test_config_round_trip_and_validation() -> None:
    config = RECIPES["short"].replace(seed=7)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
