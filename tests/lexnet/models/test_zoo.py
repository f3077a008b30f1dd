from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from lexnet.models import count_parameters, create_model, is_prototype_model, list_models  # noqa: E402
from lexnet.spec import ModelConfig  # noqa: E402

pytestmark = pytest.mark.torch

# DESIGN.md's tables: 203 classes, 2 prototypes of size (1, 1) per class.
EXPECTED_PARAMETERS = {
    "lexnet": 133_490,
    "leresnet": 298_123,
    "resnet": 306_691,
    "resnet_linear": 303_979,
    "protopnet": 201_770,
    "protopnet_lproto": 142_058,
    "protopnet_lproto_linear": 139_346,
}


def test_every_registered_model_has_an_expected_count() -> None:
    assert set(EXPECTED_PARAMETERS) <= set(list_models())


@pytest.mark.parametrize(("arch", "expected"), sorted(EXPECTED_PARAMETERS.items()))
def test_parameter_counts_match_the_paper(arch: str, expected: int) -> None:
    assert count_parameters(create_model(ModelConfig(arch=arch))) == expected


def test_lexnet_parameter_counts_stage_by_stage() -> None:
    model = create_model(ModelConfig(arch="lexnet"))
    cumulative = [count_parameters(model.backbone.stem)]
    for stage in model.backbone.stages:
        cumulative.append(cumulative[-1] + count_parameters(stage))
    cumulative.append(cumulative[-1] + count_parameters(model.prototype_layer))
    cumulative.append(cumulative[-1] + count_parameters(model.last_layer))
    assert cumulative == [88, 3_088, 7_760, 19_520, 38_080, 51_072, 133_490]


@pytest.mark.parametrize("arch", list_models())
def test_forward_shapes(arch: str) -> None:
    config = ModelConfig(arch=arch, num_classes=7, prototypes_per_class=3)
    model = create_model(config).eval()
    out = model(torch.rand(5, *config.input.shape))
    if is_prototype_model(model):
        assert out.logits.shape == (5, 7)
        assert out.similarities.shape == (5, 21)
        assert out.positions.shape == (5, 21, 2)
        assert out.positions.dtype == torch.int64
        assert out.positions[..., 0].max() < config.input.packets
        assert out.positions[..., 1].max() < config.input.variables
    else:
        assert out.shape == (5, 7)


def test_prototype_class_map_is_a_persistent_buffer() -> None:
    model = create_model(ModelConfig(arch="lexnet", num_classes=4))
    state = model.state_dict()
    assert state["last_layer.prototype_class"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_last_layer_starts_at_plus_one_and_minus_half() -> None:
    model = create_model(ModelConfig(arch="lexnet", num_classes=3))
    weight = model.last_layer.weight
    assert weight[0, 0] == 1
    assert weight[0, 1] == 1
    assert weight[1, 0] == -0.5
    assert set(weight.unique().tolist()) == {1.0, -0.5}


def test_config_rejects_a_prototype_wider_than_the_flow() -> None:
    with pytest.raises(ValueError, match=r"prototype_shape \(1, 3\)"):
        ModelConfig(prototype_shape=(1, 3))


def test_unknown_arch_names_the_registered_ones() -> None:
    with pytest.raises(ValueError, match=r"registered: .*lexnet"):
        create_model(ModelConfig(arch="nope"))
