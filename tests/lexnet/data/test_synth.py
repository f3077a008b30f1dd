from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lexnet.cli import main
from lexnet.data import SynthConfig, class_shares, generate, read_dataset, write_dataset
from lexnet.data.synth import TABLE2_TCP_SHARE, TABLE2_TOP_SHARES, mix_summary

SMALL = SynthConfig(train_flows=4000, test_flows=1000, seed=7)


@pytest.fixture(scope="module")
def small() -> dict:
    return generate(SMALL)


def test_same_seed_same_flows(small: dict) -> None:
    again = generate(SMALL)
    for split in ("train", "test"):
        assert np.array_equal(again[split].x, small[split].x)
        assert np.array_equal(again[split].y, small[split].y)
        assert np.array_equal(again[split].groups, small[split].groups)


def test_other_seed_other_flows(small: dict) -> None:
    other = generate(SMALL.replace(seed=8))
    assert not np.array_equal(other["train"].x, small["train"].x)
    assert np.mean(other["train"].x != small["train"].x) > 0.5


def test_test_flows_do_not_change_training_flows(small: dict) -> None:
    bigger_test = generate(SMALL.replace(test_flows=3000))
    assert np.array_equal(bigger_test["train"].x, small["train"].x)


def test_class_shares_follow_table2_for_203_classes() -> None:
    shares = class_shares(203)
    assert shares.sum() == pytest.approx(1.0)
    assert np.all(np.diff(shares) < 0)
    for k, expected in TABLE2_TOP_SHARES.items():
        assert shares[:k].sum() == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("classes", [2, 10, 50, 203, 300])
def test_class_shares_any_class_count(classes: int) -> None:
    shares = class_shares(classes)
    assert len(shares) == classes
    assert shares.sum() == pytest.approx(1.0)
    assert np.all(np.diff(shares) <= 0)


def test_generated_mix_matches_table2() -> None:
    data = generate(SynthConfig(train_flows=20_000, test_flows=5000, seed=1))
    for split in ("train", "test"):
        mix = mix_summary(data[split])
        assert mix["classes"] == 203
        assert mix["tcp_classes"] == 169
        for k, expected in TABLE2_TOP_SHARES.items():
            assert mix["top_shares"][k] == pytest.approx(expected, abs=0.02)
        assert mix["tcp_share"] == pytest.approx(TABLE2_TCP_SHARE, abs=0.02)
        assert np.bincount(data[split].y, minlength=203).min() >= 1


def test_flow_values(small: dict) -> None:
    spec = SMALL.spec
    for data in small.values():
        assert data.x.dtype == np.int16
        assert data.x.shape == (len(data.y), spec.packets)
        assert np.abs(data.x).max() <= spec.mtu
        nonzero = np.abs(data.x[data.x != 0])
        assert nonzero.min() >= 29
        udp = np.array([c.transport == "udp" for c in data.classes])[data.y]
        assert udp.any()
        assert not data.x[udp][:, spec.udp_packets :].any()
        assert data.x[~udp][:, spec.udp_packets :].any()
        # zero padding only at the end: no packet after the first gap
        present = data.x != 0
        assert not np.any(~present[:, :-1] & present[:, 1:])


def test_realistic_packets(small: dict) -> None:
    x = small["train"].x
    tcp = np.array([c.transport == "tcp" for c in small["train"].classes])[small["train"].y]
    sizes = np.abs(x[tcp])
    assert np.isin(sizes, [40, 52]).mean() > 0.1  # bare ACKs
    assert (sizes == 1500).mean() > 0.05  # MTU-sized segments
    assert (x[:, 0] > 0).mean() > 0.9  # the client speaks first
    assert (x[:, -1] == 0).mean() > 0.1  # early ends and UDP padding


def test_groups_split_captures(small: dict) -> None:
    train, test = small["train"].groups, small["test"].groups
    assert not set(train.tolist()) & set(test.tolist())
    assert len(np.unique(train)) == -(-SMALL.train_flows // SMALL.flows_per_capture)


def test_config_round_trip() -> None:
    config = SynthConfig(num_classes=50, seed=4, app_spread=0.3)
    assert SynthConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown SynthConfig field"):
        SynthConfig.from_dict({"classes": 3})
    with pytest.raises(ValueError, match="num_classes"):
        SynthConfig(num_classes=1)


def test_write_read_round_trip(tmp_path: Path, small: dict) -> None:
    directory = write_dataset(tmp_path / "synth", small)
    read = read_dataset(directory)
    umask = os.umask(0)
    os.umask(umask)
    assert (directory / "train_x.npy").stat().st_mode & 0o777 == 0o666 & ~umask
    for split, data in small.items():
        assert np.array_equal(read[split].x, data.x)
        assert np.array_equal(read[split].y, data.y)
        assert np.array_equal(read[split].groups, data.groups)
        assert read[split].classes == data.classes


def test_cli_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d"
    code = main(["data", "synth", "--out", str(out), "--classes", "20", "--train-flows", "500", "--test-flows", "100"])
    assert code == 0
    data = read_dataset(out)
    assert len(data["train"]) == 500
    assert len(data["test"]) == 100
    assert len(data["train"].classes) == 20
    printed = capsys.readouterr().out
    assert "train: 500 flows, 20 classes" in printed
    assert "flows/s" in printed


def test_cli_synth_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["data", "synth", "--out", str(tmp_path), "--classes", "1"]) == 2
    assert "num_classes must be at least 2" in capsys.readouterr().err
