from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lexnet.data import ClassInfo, FlowDataset, read_split, write_dataset
from lexnet.errors import DataFormatError

CLASSES = [ClassInfo("web", "tcp"), ClassInfo("dns", "udp")]


def _write(tmp_path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    return write_dataset(tmp_path / "d", {"train": FlowDataset(x, y, CLASSES, np.zeros(len(y), dtype=np.int64))})


def test_round_trip(tmp_path: Path) -> None:
    x = np.arange(60, dtype=np.int16).reshape(3, 20) - 30
    y = np.array([0, 1, 0])
    data = read_split(_write(tmp_path, x, y), "train")
    assert np.array_equal(data.x, x)
    assert data.x.dtype == np.int16
    assert data.y.tolist() == [0, 1, 0]
    assert data.classes == CLASSES
    assert data.groups is not None


def test_wrong_width_names_the_file(tmp_path: Path) -> None:
    directory = _write(tmp_path, np.zeros((2, 20), np.int16), np.array([0, 1]))
    np.save(directory / "train_x.npy", np.zeros((2, 19), np.int16))
    with pytest.raises(DataFormatError, match=r"train_x\.npy: expected shape \[N, 20\], got \[2, 19\]"):
        read_split(directory, "train")


def test_float_sizes_are_refused(tmp_path: Path) -> None:
    directory = _write(tmp_path, np.zeros((2, 20), np.int16), np.array([0, 1]))
    np.save(directory / "train_x.npy", np.zeros((2, 20), np.float32))
    with pytest.raises(DataFormatError, match="dtype float32"):
        read_split(directory, "train")


def test_label_out_of_range(tmp_path: Path) -> None:
    directory = _write(tmp_path, np.zeros((2, 20), np.int16), np.array([0, 1]))
    np.save(directory / "train_y.npy", np.array([0, 2]))
    with pytest.raises(DataFormatError, match=r"labels must be in 0\.\.1"):
        read_split(directory, "train")


def test_size_out_of_range(tmp_path: Path) -> None:
    directory = _write(tmp_path, np.zeros((2, 20), np.int16), np.array([0, 1]))
    x = np.zeros((2, 20), np.int32)
    x[1, 3] = -70000
    np.save(directory / "train_x.npy", x)
    with pytest.raises(DataFormatError, match=r"flow 1 has a size beyond \+-65535"):
        read_split(directory, "train")


def test_label_count_mismatch(tmp_path: Path) -> None:
    directory = _write(tmp_path, np.zeros((2, 20), np.int16), np.array([0, 1]))
    np.save(directory / "train_y.npy", np.array([0]))
    with pytest.raises(DataFormatError, match="1 labels for 2 flows"):
        read_split(directory, "train")


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    directory = _write(tmp_path, np.zeros((2, 20), np.int16), np.array([0, 1]))
    with pytest.raises(DataFormatError, match=r"test_x\.npy: file not found"):
        read_split(directory, "test")
    (directory / "train_x.npy").write_bytes(b"not numpy")
    with pytest.raises(DataFormatError, match=r"not a readable \.npy"):
        read_split(directory, "train")
    (directory / "classes.json").write_text(json.dumps([{"name": "a", "transport": "sctp"}]))
    with pytest.raises(DataFormatError, match="transport must be one of"):
        read_split(directory, "train")
