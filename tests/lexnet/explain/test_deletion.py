from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from lexnet.explain.deletion import (  # noqa: E402
    deletion_test,
    no_packet_fill,
    prototype_ranking,
    random_ranking,
)
from lexnet.models import create_model  # noqa: E402
from lexnet.spec import ModelConfig, Scaling  # noqa: E402

pytestmark = pytest.mark.torch


class OneCell(nn.Module):
    """Class 0's logit is 4 x the input at packet 3, size; class 1's is 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = 4 * x[:, 0, 3, 0]
        return torch.stack([value, torch.zeros_like(value)], dim=1)


def test_no_packet_fill_is_size_zero_and_direction_zero() -> None:
    fill = no_packet_fill(Scaling(size_min=0, size_max=1500), 20)
    assert fill.shape == (20, 2)
    assert fill[:, 0].tolist() == [0.0] * 20
    assert fill[:, 1].tolist() == [0.5] * 20


def test_deleting_the_cell_the_model_uses_drops_its_score_by_the_known_amount() -> None:
    x = np.full((1, 1, 20, 2), 0.5, dtype=np.float32)
    x[0, 0, 3, 0] = 1.0
    fill = np.zeros((20, 2), dtype=np.float32)
    cell = 3 * 2 + 0
    first = np.array([[cell, *[c for c in range(40) if c != cell]]])
    last = np.array([[*[c for c in range(40) if c != cell], cell]])
    result = deletion_test(OneCell(), x, {"right": first, "wrong": last}, fill, ks=(0, 1, 39, 40))
    before = 1 / (1 + np.exp(-4.0))  # softmax([4, 0])[0]
    after = 0.5  # the cell set to 0: softmax([0, 0])[0]
    assert result.probability_drop["right"] == pytest.approx([0, before - after, before - after, before - after])
    assert result.probability_drop["wrong"] == pytest.approx([0, 0, 0, before - after])
    # Logits tie at 0 after the deletion; argmax keeps class 0, so the prediction counts as unchanged.
    assert result.changed["right"] == [0.0, 0.0, 0.0, 0.0]


def test_prototype_ranking_starts_with_the_matched_cells() -> None:
    torch.manual_seed(0)
    model = create_model(ModelConfig(arch="lexnet", num_classes=3)).eval()
    x = np.random.default_rng(0).random((4, 1, 20, 2), dtype=np.float32)
    ranking = prototype_ranking(model, x)
    with torch.inference_mode():
        out = model(torch.from_numpy(x))
    predicted = out.logits.argmax(1).numpy()
    for i in range(4):
        mine = out.positions[i, 2 * predicted[i] : 2 * predicted[i] + 2].numpy()
        cells = set((mine[:, 0] * 2 + mine[:, 1]).tolist())
        assert set(ranking[i, : len(cells)].tolist()) == cells
        assert sorted(ranking[i].tolist()) == list(range(40))


def test_random_ranking_is_a_permutation_per_flow() -> None:
    ranking = random_ranking(3, 40, seed=1)
    assert all(sorted(row.tolist()) == list(range(40)) for row in ranking)
