from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lexnet.checkpoint import Checkpoint, PrototypeSource, save_checkpoint  # noqa: E402
from lexnet.cli import main  # noqa: E402
from lexnet.data.format import ClassInfo  # noqa: E402
from lexnet.models import create_model  # noqa: E402
from lexnet.spec import ModelConfig, Scaling  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    config = ModelConfig(num_classes=3)
    model = create_model(config)
    sources = [PrototypeSource(p, p // 2, p, 0, 1, [100, -1448] * 10) for p in range(config.num_prototypes)]
    classes = [ClassInfo(name) for name in ("mail", "video", "web")]
    ckpt = Checkpoint(config, classes, Scaling(size_min=0, size_max=1500), model.state_dict(), sources)
    return save_checkpoint(ckpt, tmp_path / "ckpt")


def test_explain_prints_sentences_and_writes_figures(checkpoint: Path, tmp_path: Path, capsys) -> None:
    flows = tmp_path / "flows.npy"
    np.save(flows, np.random.default_rng(0).integers(-1500, 1500, (3, 20)).astype(np.int16))
    out = tmp_path / "fig.png"
    assert main(["explain", str(checkpoint), str(flows), "--flow", "0", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.count("like prototype") == 4
    assert "flow 2: class" in text
    assert (tmp_path / "fig_flow0.png").is_file()
    assert (tmp_path / "fig_flow2.png").is_file()

    assert main(["explain", str(checkpoint), str(flows), "--format", "json"]) == 0
    decoded = json.loads(capsys.readouterr().out)
    assert decoded[0]["flow"] == 0
    assert len(decoded[0]["matches"]) == 2


def test_explain_rejects_a_flow_index_out_of_range(checkpoint: Path, tmp_path: Path, capsys) -> None:
    flows = tmp_path / "flows.npy"
    np.save(flows, np.zeros((2, 20), dtype=np.int16))
    assert main(["explain", str(checkpoint), str(flows), "--flow", "5"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_faithfulness_prints_table6_and_the_deletion_test(checkpoint: Path, tmp_path: Path, capsys) -> None:
    from lexnet.data.format import FlowDataset, write_dataset

    rng = np.random.default_rng(0)
    classes = [ClassInfo(name) for name in ("mail", "video", "web")]
    splits = {
        split: FlowDataset(rng.integers(-1500, 1500, (n, 20)), rng.integers(0, 3, n), classes)
        for split, n in (("train", 30), ("test", 12))
    }
    data = write_dataset(tmp_path / "data", splits)
    args = ["faithfulness", str(checkpoint), "--data", str(data), "--flows", "10", "--shap-samples", "4"]
    assert main([*args, "--no-timing", "--out", str(tmp_path / "faith")]) == 0
    text = capsys.readouterr().out
    assert "| Grad-CAM on LEXNet | 10 |" in text
    assert "| random cells | 10 |" in text
    assert "| LEXNet prototypes |" in text
    assert (tmp_path / "faith" / "deletion_lexnet.png").is_file()
    saved = json.loads((tmp_path / "faith" / "faithfulness.json").read_text())
    assert saved["flows"] == 10
