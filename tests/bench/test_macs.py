"""Analytic multiply-adds: LEXNet's split matches the design's figures, and every parameter is accounted for."""

from __future__ import annotations

import pytest

from lexnet.spec import ModelConfig

pytestmark = pytest.mark.torch


def test_lexnet_costs_match_the_design_split():
    from lexnet.bench.macs import model_cost

    cost = model_cost(ModelConfig(arch="lexnet"))
    parts = cost.by_part()

    # DESIGN.md: 2.11 M multiply-adds per flow = backbone 1.51 M + prototype distances 0.52 M + FC 0.08 M.
    assert round(cost.macs / 1e6, 2) == 2.11
    assert round(parts["backbone"] / 1e6, 2) == 1.51
    assert round(parts["prototypes"] / 1e6, 2) == 0.52
    assert round(parts["classifier"] / 1e6, 2) == 0.08
    assert cost.trainable_parameters == 133_490


def test_convolution_costs_are_weights_times_positions():
    from lexnet.bench.macs import model_cost

    config = ModelConfig(arch="lexnet")
    positions = config.input.packets * config.input.variables
    cost = model_cost(config)

    convs = [layer for layer in cost.layers if layer.kind == "conv"]
    assert convs
    assert all(layer.macs == layer.params * positions for layer in convs)  # no bias in these convolutions
    fc = [layer for layer in cost.layers if layer.kind == "linear"]
    assert [layer.macs for layer in fc] == [config.num_prototypes * config.num_classes]


@pytest.mark.parametrize("arch", ["leresnet", "resnet", "resnet_linear", "protopnet", "protopnet_lproto"])
def test_every_zoo_model_is_fully_counted(arch):
    from lexnet.bench.macs import model_cost

    cost = model_cost(ModelConfig(arch=arch))  # raises when a layer type escapes the count

    assert cost.macs > 1_000_000
    assert set(cost.by_part()) <= {"backbone", "add_on", "prototypes", "classifier"}


def test_a_layer_missing_from_the_count_is_detected():
    from lexnet.bench.macs import check_parameters, count_macs

    from lexnet.models import create_model

    config = ModelConfig(arch="leresnet")
    model = create_model(config)
    costs = [c for c in count_macs(model, config) if c.kind != "linear"]

    with pytest.raises(ValueError, match="not reached"):
        check_parameters(model, costs)


def test_protopnet_pays_for_similarities_at_every_position_in_depth_128():
    from lexnet.bench.macs import model_cost

    config = ModelConfig(arch="protopnet")
    positions = config.input.packets * config.input.variables
    parts = model_cost(config).by_part()

    cross_term = config.num_prototypes * config.addon_channels * positions
    assert parts["prototypes"] == cross_term + config.addon_channels * positions
