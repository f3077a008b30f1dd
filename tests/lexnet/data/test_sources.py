from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lexnet.data import SynthConfig, describe_source, generate, load_data, source_from_arg, write_dataset
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
