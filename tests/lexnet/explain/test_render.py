from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from lexnet.checkpoint import PrototypeSource
from lexnet.explain.describe import explain_flows
from lexnet.explain.plots import plot_deletion_curve, plot_per_class_accuracy
from lexnet.explain.predict import ExplainedModel, ModelOutputs
from lexnet.explain.render import figure_size, render_explanation
from lexnet.spec import ModelConfig, Scaling


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def _unused(raw: np.ndarray) -> ModelOutputs:
    raise AssertionError("not called")


def test_explanation_figure_has_the_expected_size(tmp_path: Path) -> None:
    config = ModelConfig(num_classes=2, prototypes_per_class=2)
    sources = [PrototypeSource(p, p // 2, 10 + p, p, p % 2, [100, -1448] * 10) for p in range(4)]
    model = ExplainedModel(config, ["mail", "video"], Scaling(size_min=0, size_max=1500), _unused, sources)
    raw = np.array([[100, -1448, 300, -60] + [0] * 16])
    outputs = ModelOutputs(np.array([[2.0, 0.0]]), np.array([[3.0, 1.0, 0.0, 0.0]]), np.zeros((1, 4, 2), np.int64))
    (explanation,) = explain_flows(model, raw, outputs)
    out = render_explanation(explanation, model.scaling, sources, tmp_path / "fig.png")
    assert _png_size(out) == figure_size(2)


def test_per_class_accuracy_plot(tmp_path: Path) -> None:
    per_class = {f"app{i}": i / 60 for i in range(60)}
    counts = {f"app{i}": 1000 - 10 * i for i in range(60)}
    out = plot_per_class_accuracy(per_class, counts, tmp_path / "fig4.png")
    width, height = _png_size(out)
    assert width >= 800
    assert height == 600


def test_per_class_accuracy_needs_every_count(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="app1"):
        plot_per_class_accuracy({"app0": 1.0, "app1": 0.5}, {"app0": 3}, tmp_path / "fig4.png")


def test_deletion_curve(tmp_path: Path) -> None:
    from lexnet.explain.deletion import DeletionResult

    result = DeletionResult(5, [0, 1, 2], {"SHAP": [0, 0.3, 0.5], "random": [0, 0.1, 0.2]}, {})
    assert _png_size(plot_deletion_curve(result, tmp_path / "curve.png", "LEXNet")) == (700, 450)
