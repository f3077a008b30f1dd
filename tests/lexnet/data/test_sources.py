from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lexnet.cli import main
from lexnet.data import (
    ClassInfo,
    FlowDataset,
    SynthConfig,
    describe_source,
    generate,
    keep_classes,
    load_data,
    read_dataset,
    source_from_arg,
    split_by_group,
    write_dataset,
)
from lexnet.errors import DataFormatError


def test_synth_argument() -> None:
    source = source_from_arg("synth:seed=3,train_flows=300,test-flows=50,app_spread=0.4")
    assert source["kind"] == "synth"
    config = SynthConfig.from_dict(source["config"])
    assert (config.seed, config.train_flows, config.test_flows, config.app_spread) == (3, 300, 50, 0.4)
    assert json.loads(json.dumps(source)) == source
    assert source_from_arg("synth") == {"kind": "synth", "config": SynthConfig().to_dict()}


def test_synth_source_regenerates_the_same_flows() -> None:
    source = source_from_arg("synth:seed=5,train_flows=300,test_flows=50,num_classes=12")
    first, second = load_data(source), load_data(json.loads(json.dumps(source)))
    assert np.array_equal(first["train"].x, second["train"].x)
    assert np.array_equal(first["test"].y, second["test"].y)
    assert len(first["train"].classes) == 12
    assert describe_source(source) == "synth:num_classes=12,train_flows=300,test_flows=50,seed=5"


def test_dir_source(tmp_path: Path) -> None:
    written = generate(SynthConfig(train_flows=100, test_flows=20, num_classes=5))
    write_dataset(tmp_path, written)
    source = source_from_arg(str(tmp_path))
    assert source == {"kind": "dir", "path": str(tmp_path.resolve()), "splits": ["train", "test"]}
    data = load_data(source)
    assert np.array_equal(data["test"].x, written["test"].x)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("synth:colours=3", "NAME one of"),
        ("synth:seed=x", "expected int"),
        ("synth:num_classes=1", "num_classes must be at least 2"),
        ("/nonexistent/dir", "neither"),
    ],
)
def test_bad_arguments(text: str, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        source_from_arg(text)


def test_bad_sources() -> None:
    with pytest.raises(DataFormatError, match="kind must be one of"):
        load_data({"kind": "s3"})
    with pytest.raises(DataFormatError, match="unknown SynthConfig field"):
        load_data({"kind": "synth", "config": {"colours": 3}})
    with pytest.raises(DataFormatError, match="needs a 'path'"):
        load_data({"kind": "dir"})


def _grouped() -> FlowDataset:
    # class 0: 40 flows over groups 0-3; class 1: 12 flows in group 4 only; class 2: 3 flows over groups 5-7
    y = np.array([0] * 40 + [1] * 12 + [2] * 3)
    groups = np.array([k % 4 for k in range(40)] + [4] * 12 + [5, 6, 7])
    x = np.repeat(np.arange(len(y), dtype=np.int16)[:, None], 20, axis=1)
    return FlowDataset(x, y, [ClassInfo("a"), ClassInfo("b", "udp"), ClassInfo("c")], groups)


def test_keep_classes() -> None:
    data = _grouped()
    kept = keep_classes(data, min_flows=10)
    assert [c.name for c in kept.classes] == ["a", "b"]
    assert np.bincount(kept.y).tolist() == [40, 12]
    assert np.array_equal(kept.x[:, 0], np.arange(52))
    assert [c.name for c in keep_classes(data, min_groups=2).classes] == ["a", "c"]
    dropped = keep_classes(data, drop=("a",))
    assert [c.name for c in dropped.classes] == ["b", "c"]
    assert dropped.y.tolist() == [0] * 12 + [1] * 3


def test_split_by_group_keeps_groups_apart() -> None:
    data = _grouped()
    splits = split_by_group(data, 0.25, seed=0)
    train, test = splits["train"], splits["test"]
    assert len(train) + len(test) == len(data)
    assert not set(train.groups.tolist()) & set(test.groups.tolist())
    assert (test.y == 0).sum() == 10  # one of class a's four groups
    assert np.array_equal(split_by_group(data, 0.25, seed=0)["test"].groups, test.groups)
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_group(data, 1.5)


def test_cli_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_dataset(tmp_path / "all", {"all": _grouped()})
    out = tmp_path / "split"
    argv = ["data", "split", str(tmp_path / "all"), "--out", str(out), "--min-class-flows", "10"]
    assert main([*argv, "--split-by-group", "0.25"]) == 0
    data = read_dataset(out)
    assert [c.name for c in data["train"].classes] == ["a", "b"]
    assert (len(data["train"]), len(data["test"])) == (42, 10)
    assert "classes in both train and test: 1" in capsys.readouterr().out
    write_dataset(
        tmp_path / "nogroups", {"all": FlowDataset(np.zeros((2, 20), np.int16), np.zeros(2), [ClassInfo("a")])}
    )
    assert main(["data", "split", str(tmp_path / "nogroups"), "--out", str(out)]) == 2
    assert "needs {split}_groups.npy" in capsys.readouterr().err
