from __future__ import annotations

import json

import numpy as np
import pytest

from lexnet.checkpoint import PrototypeSource
from lexnet.explain.describe import describe_cell, explain_flows, to_json, to_text
from lexnet.explain.predict import ExplainedModel, ModelOutputs
from lexnet.spec import ModelConfig, Scaling


def _unused(raw: np.ndarray) -> ModelOutputs:
    raise AssertionError("not called")


def test_cells_in_words() -> None:
    raw = np.array([120, -1448, 0] + [0] * 17)
    assert describe_cell(raw, 1, 1) == "packet 2 goes server to client (1448 bytes)"
    assert describe_cell(raw, 1, 0) == "packet 2 is 1448 bytes (server to client)"
    assert describe_cell(raw, 0, 1) == "packet 1 goes client to server (120 bytes)"
    assert describe_cell(raw, 2, 0) == "packet 3 is absent (no packet)"


def _model() -> ExplainedModel:
    config = ModelConfig(num_classes=2, prototypes_per_class=2)
    source_flow = [60, -1448] + [0] * 18
    sources = [PrototypeSource(2, 1, 123, 1, 1, source_flow), PrototypeSource(3, 1, -1, 0, 0, [])]
    return ExplainedModel(config, ["mail", "video"], Scaling(size_min=0, size_max=1500), _unused, sources)


def test_sentences_name_the_packet_the_class_and_the_training_flow() -> None:
    raw = np.array([[100, -1448, 300] + [0] * 17])
    outputs = ModelOutputs(
        logits=np.array([[0.0, 2.0]]),
        similarities=np.array([[9.0, 9.0, 1.0, 4.0]]),
        positions=np.array([[[0, 0], [0, 0], [1, 1], [2, 0]]]),
    )
    (item,) = explain_flows(_model(), raw, outputs)
    assert item.class_name == "video"
    assert item.predicted == 1
    assert item.probability == pytest.approx(np.exp(2) / (1 + np.exp(2)), rel=1e-12)
    # Most similar prototype first: prototype 3 (rank 2), then prototype 2 (rank 1).
    assert [m.rank for m in item.matches] == [2, 1]
    assert item.matches[0].sentence == (
        "packet 3 is 300 bytes (client to server), like prototype 2 of class video, its training flow is not recorded"
    )
    assert item.matches[1].sentence == (
        "packet 2 goes server to client (1448 bytes), like prototype 1 of class video, matched from training"
        " flow 123 where packet 2 goes server to client (1448 bytes)"
    )
    text = to_text([item])
    assert text.splitlines()[0] == "flow 0: class video (probability 0.881)"
    decoded = json.loads(to_json([item]))
    assert decoded[0]["matches"][1]["source_flow"] == 123
    assert decoded[0]["matches"][1]["packet"] == 1  # 0-based in JSON, "packet 2" in words
