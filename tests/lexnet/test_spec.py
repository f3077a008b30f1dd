from __future__ import annotations

import numpy as np
import pytest

from lexnet.spec import ModelConfig, Scaling


def test_scaling_maps_training_range_to_unit_interval() -> None:
    raw = np.array([[100, -1500, 0] + [0] * 17, [40, 40, -60] + [0] * 17], dtype=np.int16)
    scaling = Scaling.fit(raw)
    scaled = scaling.apply(raw)
    assert scaled.shape == (2, 1, 20, 2)
    assert scaled[..., 0].min() == 0.0
    assert scaled[..., 0].max() == 1.0
    assert scaled[0, 0, 1].tolist() == [1.0, 0.0]  # 1500 bytes, server to client
    assert scaled[0, 0, 2].tolist() == [0.0, 0.5]  # no packet
    assert scaling.unscale_size(scaled[0, 0, 0, 0]) == pytest.approx(100)


def test_config_round_trips_through_json_types() -> None:
    config = ModelConfig(arch="protopnet", num_classes=10, prototype_shape=(2, 1))
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_degenerate_scaling_is_refused() -> None:
    with pytest.raises(ValueError, match="size_max"):
        Scaling(size_min=3.0, size_max=3.0)
