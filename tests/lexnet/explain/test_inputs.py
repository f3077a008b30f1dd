from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lexnet.errors import DataFormatError
from lexnet.explain.inputs import read_flows


def test_csv_with_header_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    header = ",".join(f"p{i}" for i in range(20))
    rows = [",".join(str(v) for v in [100, -1448] + [0] * 18), ",".join(["5"] * 20)]
    path.write_text("\n".join([header, "# a comment", *rows]) + "\n")
    x = read_flows(path)
    assert x.shape == (2, 20)
    assert x[0, 1] == -1448


def test_one_flow_npy(tmp_path: Path) -> None:
    path = tmp_path / "flow.npy"
    np.save(path, np.arange(20, dtype=np.int16))
    assert read_flows(path).shape == (1, 20)


def test_wrong_packet_count_is_named(tmp_path: Path) -> None:
    path = tmp_path / "flows.npy"
    np.save(path, np.zeros((3, 7), dtype=np.int16))
    with pytest.raises(DataFormatError, match=r"expected shape \[N, 20\]"):
        read_flows(path)


def test_bad_csv_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(",".join(["1"] * 20) + "\n" + ",".join(["x"] * 20) + "\n")
    with pytest.raises(DataFormatError, match="line 2"):
        read_flows(path)
