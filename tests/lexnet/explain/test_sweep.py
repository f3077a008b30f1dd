from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lexnet.data.format import ClassInfo, FlowDataset  # noqa: E402
from lexnet.explain.sweep import SweepBudget, parse_shape, run_sweep  # noqa: E402

pytestmark = pytest.mark.torch


def _flows(n: int, seed: int) -> FlowDataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.integers(-1500, 1500, (n, 20))
    x[np.arange(n), y] = -1448
    return FlowDataset(x, y, [ClassInfo(f"app{c}") for c in range(3)])


def test_shapes_parse_and_bad_ones_are_named() -> None:
    assert parse_shape("2x1") == (2, 1)
    with pytest.raises(ValueError, match="2x1"):
        parse_shape("2-1")


def test_budget_below_two_epochs_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 epochs"):
        SweepBudget(epochs=1)


def test_sweep_trains_one_model_per_point_and_reuses_them(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    budget = SweepBudget(epochs=2, max_flows=90, batch_size=32, max_test_flows=30)
    train, test = _flows(120, 0), _flows(40, 1)
    points = run_sweep(train, test, [1, 2], [(1, 1)], budget, tmp_path, progress=False)
    assert [(p.prototypes_per_class, p.prototype_shape) for p in points] == [(1, (1, 1)), (2, (1, 1))]
    assert all(0.0 <= p.accuracy <= 1.0 for p in points)
    assert points[1].parameters > points[0].parameters
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["train_flows"] == 90
    assert saved["test_flows"] == 30
    again = run_sweep(train, test, [1, 2], [(1, 1)], budget, tmp_path, progress=False)
    assert [p.accuracy for p in again] == [p.accuracy for p in points]
