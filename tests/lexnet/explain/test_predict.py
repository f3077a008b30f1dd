from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lexnet.errors import CheckpointError
from lexnet.explain.predict import load_explained_model
from lexnet.spec import ModelConfig, Scaling


def test_a_bundle_goes_through_lexnet_runtimes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    classifier_module = pytest.importorskip("lexnet.runtimes.classifier")
    config = ModelConfig(num_classes=2)
    bundle = SimpleNamespace(
        config=config,
        class_names=["mail", "video"],
        scaling=Scaling(size_min=0, size_max=1500),
        is_prototype_model=True,
        prototype_sources=[
            {"prototype": 0, "class_index": 0, "flow_index": 7, "packet": 1, "variable": 0, "raw_flow": [1] * 20},
            None,
            None,
            None,
        ],
    )
    outputs = SimpleNamespace(
        logits=np.array([[0.0, 1.0]]), similarities=np.ones((1, 4)), positions=np.zeros((1, 4, 2), dtype=np.int64)
    )
    calls = []

    def fake_load(path: Path, backend: str, precision: str) -> SimpleNamespace:
        calls.append((path, backend, precision))
        return SimpleNamespace(bundle=bundle, run=lambda raw: outputs, close=lambda: None)

    monkeypatch.setattr(classifier_module, "load", fake_load)
    model = load_explained_model(tmp_path, backend="openvino", precision="int8")
    assert calls == [(tmp_path, "openvino", "int8")]
    assert model.class_names == ["mail", "video"]
    assert [s.flow_index for s in model.prototype_sources] == [7]
    assert model.predict(np.zeros((1, 20), dtype=np.int16)).predicted.tolist() == [1]


def test_neither_checkpoint_nor_bundle(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="neither a checkpoint nor a bundle"):
        load_explained_model(tmp_path / "missing")
