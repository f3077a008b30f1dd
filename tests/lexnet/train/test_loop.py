from __future__ import annotations

import pytest
import torch

from lexnet.checkpoint import load_checkpoint
from lexnet.errors import CheckpointError
from lexnet.evaluate import evaluate_checkpoint
from lexnet.spec import ModelConfig, Scaling
from lexnet.train import TrainConfig, TrainOptions, plan_schedule, train
from lexnet.train.state import STATE_FILE

CONFIG = TrainConfig(epochs=3, batch_size=16, warmup_epochs=1, push_start=1, push_every=5, last_layer_epochs=1)
SOURCE = {"kind": "test", "note": "tiny data"}


def _model_config(arch: str = "lexnet") -> ModelConfig:
    return ModelConfig(arch=arch, num_classes=3, widths=(4, 8))


def _train(splits, out, arch: str = "lexnet", **options):
    options = TrainOptions(progress=False, data_source=SOURCE, **options)
    return train(arch, splits["train"], splits["test"], out, CONFIG, options, _model_config(arch))


def test_checkpoint_round_trip(splits, tmp_path) -> None:
    trained = _train(splits, tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt" / STATE_FILE).exists()
    x = torch.from_numpy(loaded.scaling.apply(splits["test"].x))
    with torch.no_grad():
        expected, actual = trained.build_model()(x), loaded.build_model()(x)
    assert torch.equal(expected.logits, actual.logits)
    assert torch.equal(expected.positions, actual.positions)
    assert loaded.scaling == Scaling.fit(splits["train"].x)
    assert loaded.class_names == ["app0", "app1", "app2"]
    assert loaded.training["data"] == SOURCE
    assert loaded.training["seed"] == CONFIG.seed
    assert len(loaded.training["log"]) == len(plan_schedule(CONFIG, True))
    report = evaluate_checkpoint(loaded, splits["test"])
    assert loaded.metrics["test_accuracy"] == pytest.approx(report.accuracy)


def test_final_prototypes_are_feature_vectors_of_their_sources(splits, tmp_path) -> None:
    checkpoint = _train(splits, tmp_path / "ckpt")
    model = checkpoint.build_model()
    train_x = torch.from_numpy(checkpoint.scaling.apply(splits["train"].x))
    assert len(checkpoint.prototype_sources) == 6
    with torch.no_grad():
        features = model.features(train_x)
    for source in checkpoint.prototype_sources:
        assert splits["train"].y[source.flow_index] == source.class_index
        vector = features[source.flow_index, :, source.packet, source.variable]
        torch.testing.assert_close(model.prototype_layer.prototypes[source.prototype, :, 0, 0], vector)


@pytest.mark.parametrize("stop_after", [1, 4])  # mid warm-up/joint, and right after the first projection
def test_resume_ends_with_the_same_weights(splits, tmp_path, stop_after: int) -> None:
    straight = _train(splits, tmp_path / "straight")
    assert _train(splits, tmp_path / "resumed", stop_after=stop_after) is None
    assert (tmp_path / "resumed" / STATE_FILE).is_file()
    resumed = _train(splits, tmp_path / "resumed", resume=True)
    assert straight.state_dict.keys() == resumed.state_dict.keys()
    for name, tensor in straight.state_dict.items():
        assert torch.equal(tensor, resumed.state_dict[name]), name
    assert resumed.prototype_sources == straight.prototype_sources
    again = _train(splits, tmp_path / "resumed", resume=True)  # finished: nothing left to do
    assert again.training["log"] == resumed.training["log"]
    assert [e["loss"] for e in resumed.training["log"] if "loss" in e] == [
        e["loss"] for e in straight.training["log"] if "loss" in e
    ]


def test_resume_refuses_another_run_and_fresh_start_refuses_a_state(splits, tmp_path) -> None:
    _train(splits, tmp_path / "ckpt", stop_after=1)
    with pytest.raises(CheckpointError, match="--resume"):
        _train(splits, tmp_path / "ckpt")
    options = TrainOptions(progress=False, data_source={"kind": "other"}, resume=True)
    with pytest.raises(CheckpointError, match="different run"):
        train("lexnet", splits["train"], None, tmp_path / "ckpt", CONFIG, options, _model_config())


def test_plain_model_trains_with_cross_entropy(splits, tmp_path) -> None:
    checkpoint = _train(splits, tmp_path / "ckpt", arch="leresnet")
    assert [e["stage"] for e in checkpoint.training["log"]] == ["plain"] * CONFIG.epochs
    assert checkpoint.prototype_sources == []
    assert 0.0 <= checkpoint.metrics["test_accuracy"] <= 1.0
    losses = [e["loss"] for e in checkpoint.training["log"]]
    assert losses[-1] < losses[0]


def test_refuses_an_output_directory_holding_other_files(splits, tmp_path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(CheckpointError, match=r"notes\.txt"):
        _train(splits, out)
    assert (out / "notes.txt").read_text() == "keep me"
