from __future__ import annotations

import math

import pytest
import torch

from lexnet.models import PrototypeOutput
from lexnet.models.prototypes import PrototypeLastLayer
from lexnet.train.config import TrainConfig
from lexnet.train.losses import cluster_separation, prototype_loss


def _case() -> tuple[PrototypeOutput, torch.Tensor, torch.Tensor]:
    min_distances = torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]])
    logits = torch.zeros(2, 2)
    output = PrototypeOutput(logits, torch.zeros(2, 4), torch.zeros(2, 4, 2, dtype=torch.long), min_distances)
    return output, torch.tensor([0, 1]), torch.tensor([0, 0, 1, 1])


def test_cluster_and_separation_on_a_hand_built_case() -> None:
    output, labels, prototype_class = _case()
    cluster, separation = cluster_separation(output.min_distances, labels, prototype_class)
    # Flow 0 (class 0): own prototypes at 1 and 2, others at 3 and 4; flow 1 (class 1): own 2 and 1, others 4, 3.
    assert cluster.item() == pytest.approx(1.0)
    assert separation.item() == pytest.approx(3.0)


def test_total_loss_on_a_hand_built_case() -> None:
    output, labels, prototype_class = _case()
    prototypes = torch.ones(4, 1, 1, 1)  # L2 norm 2
    last_layer = PrototypeLastLayer(prototype_class, 2)  # off-class weights: four times -0.5, L2 norm 1
    parts = prototype_loss(output, labels, prototype_class, prototypes, last_layer.weight, TrainConfig())
    assert parts.cross_entropy.item() == pytest.approx(math.log(2))
    assert parts.prototype_l2.item() == pytest.approx(2.0)
    assert parts.last_layer.item() == pytest.approx(1.0)
    expected = math.log(2) + 0.8 * 1.0 - 0.08 * 3.0 + 1e-3 * 2.0 + 1e-4 * 1.0
    assert parts.total.item() == pytest.approx(expected, rel=1e-6)


def test_l1_penalty_on_request() -> None:
    output, labels, prototype_class = _case()
    last_layer = PrototypeLastLayer(prototype_class, 2)
    config = TrainConfig(last_layer_norm=1.0)
    parts = prototype_loss(output, labels, prototype_class, torch.ones(4, 1, 1, 1), last_layer.weight, config)
    assert parts.last_layer.item() == pytest.approx(2.0)
