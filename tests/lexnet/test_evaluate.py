from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lexnet.checkpoint import Checkpoint, save_checkpoint
from lexnet.cli import main
from lexnet.data.format import ClassInfo, FlowDataset, write_dataset
from lexnet.errors import DataFormatError
from lexnet.evaluate import evaluate_checkpoint, summarize
from lexnet.models import create_model
from lexnet.spec import ModelConfig, Scaling


def _split(flows: int, seed: int) -> FlowDataset:
    rng = np.random.default_rng(seed)
    y = np.arange(flows) % 3
    x = rng.integers(-1500, 1500, (flows, 20))
    x[:, 0] = 100 + 300 * y
    return FlowDataset(x.astype(np.int16), y.astype(np.int64), [ClassInfo(f"app{i}") for i in range(3)])


@pytest.fixture
def data_dir(tmp_path):
    return write_dataset(tmp_path / "data", {"train": _split(30, 1), "test": _split(21, 2)})


@pytest.fixture
def checkpoint_dir(tmp_path, data_dir):
    torch.manual_seed(0)
    config = ModelConfig(arch="lexnet", num_classes=3, widths=(4, 8))
    train = _split(30, 1)
    checkpoint = Checkpoint(
        config=config,
        classes=train.classes,
        scaling=Scaling.fit(train.x),
        state_dict=create_model(config).state_dict(),
        training={"data": {"kind": "dir", "path": str(data_dir)}},
    )
    return save_checkpoint(checkpoint, tmp_path / "ckpt")


def test_summarize_on_a_hand_built_case() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    predictions = np.array([0, 1, 1, 1, 0, 0, 2])
    report = summarize(labels, predictions, ["a", "b", "c"])
    assert report.flows == 7
    assert report.accuracy == pytest.approx(4 / 7)
    assert report.per_class == pytest.approx({"a": 0.5, "b": 1.0, "c": 1 / 3})
    assert report.counts == {"a": 2, "b": 2, "c": 3}
    assert report.confusions == [("c", "a", 2), ("a", "b", 1)]


def test_summarize_leaves_out_classes_without_flows() -> None:
    report = summarize(np.array([0, 0]), np.array([0, 2]), ["a", "b", "c"], top=1)
    assert report.per_class == {"a": 0.5}
    assert report.confusions == [("a", "c", 1)]


def test_evaluate_refuses_another_class_list(checkpoint_dir) -> None:
    from lexnet.checkpoint import load_checkpoint

    other = _split(6, 3)
    other.classes = [ClassInfo(f"x{i}") for i in range(3)]
    with pytest.raises(DataFormatError, match="classes differ"):
        evaluate_checkpoint(load_checkpoint(checkpoint_dir), other)


def test_eval_cli_prints_and_writes_json(checkpoint_dir, data_dir, tmp_path, capsys) -> None:
    from lexnet.checkpoint import load_checkpoint

    out = tmp_path / "report.json"
    assert main(["eval", str(checkpoint_dir), "--data", str(data_dir), "--json", str(out)]) == 0
    expected = evaluate_checkpoint(load_checkpoint(checkpoint_dir), _split(21, 2))
    printed = capsys.readouterr().out
    assert f"accuracy {expected.accuracy:.4f} on 21 flows" in printed
    assert "app0" in printed
    report = json.loads(out.read_text())
    assert report["flows"] == 21
    assert report["accuracy"] == pytest.approx(expected.accuracy)
    assert report["counts"] == {"app0": 7, "app1": 7, "app2": 7}
    assert report["per_class"] == pytest.approx(expected.per_class)


def test_eval_cli_defaults_to_the_checkpoints_own_data(checkpoint_dir, capsys) -> None:
    assert main(["eval", str(checkpoint_dir), "--split", "train"]) == 0
    assert "on 30 flows" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["train", "eval"])
def test_cli_exit_code_2_on_a_bad_data_directory(command, checkpoint_dir, tmp_path, capsys) -> None:
    bad = tmp_path / "not-data"
    bad.mkdir()
    (bad / "classes.json").write_text("[]")
    args = ["train", "--data", str(bad), "--out", str(tmp_path / "out")]
    if command == "eval":
        args = ["eval", str(checkpoint_dir), "--data", str(bad)]
    assert main(["--no-progress", *args]) == 2
    assert "error" in capsys.readouterr().err


def test_eval_cli_draws_per_class_accuracy(checkpoint_dir, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    figure = tmp_path / "per-class.png"
    assert main(["eval", str(checkpoint_dir), "--plot", str(figure)]) == 0
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
