"""Tiny flow data sets for the training tests: a class is told apart by its first packet's size."""

from __future__ import annotations

import numpy as np
import pytest

from lexnet.data.format import ClassInfo, FlowDataset


def tiny_split(flows: int, classes: int = 3, seed: int = 0) -> FlowDataset:
    rng = np.random.default_rng(seed)
    y = np.arange(flows) % classes
    sizes = rng.integers(40, 1500, (flows, 20))
    x = sizes * np.where(rng.random((flows, 20)) < 0.5, 1, -1)
    x[:, 0] = 100 + 300 * y
    return FlowDataset(x.astype(np.int16), y.astype(np.int64), [ClassInfo(f"app{i}") for i in range(classes)])


@pytest.fixture
def splits() -> dict[str, FlowDataset]:
    return {"train": tiny_split(48, seed=1), "test": tiny_split(24, seed=2)}


@pytest.fixture
def make_split():
    return tiny_split
