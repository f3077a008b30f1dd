"""``lexnet bench`` end to end on a tiny selection: the cells, the skips and the files it writes."""

from __future__ import annotations

import csv
import json

import pytest

from lexnet.cli import main

# The compiled backends go through lexnet.export (minutes per bundle): the export and runtime tests cover them.
pytestmark = pytest.mark.torch


def test_small_matrix_runs_and_reports(tmp_path, capsys):
    argv = ["--no-progress", "bench", "--quick", "--models", "lexnet", "--backends", "torch"]
    argv += ["--precisions", "fp32", "int8", "--batches", "1", "8", "--threads", "1", "--budget", "0.02"]
    argv += ["--minutes", "1", "--no-plots", "--out", str(tmp_path)]

    assert main(argv) == 0

    out = capsys.readouterr().out
    assert "Main table" in out
    assert "Table 3" in out
    assert "results written to" in out
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    with (folder / "cells.csv").open() as handle:
        cells = list(csv.DictReader(handle))
    assert len(cells) == 1 * 1 * 2 * 2  # models x backends x precisions x batches, one thread count
    by_key = {(c["backend"], c["precision"], c["batch"]): c for c in cells}
    assert by_key[("torch", "fp32", "8")]["status"] == "ok"
    assert float(by_key[("torch", "fp32", "8")]["timing_median_us"]) > 0
    assert by_key[("torch", "int8", "1")]["status"] == "skipped"
    assert "INT8" in by_key[("torch", "int8", "1")]["reason"]
    results = json.loads((folder / "results.json").read_text())
    assert results["models"]["lexnet"]["macs"] == 2_112_498
    assert results["environment"]["load_average_end"] is not None


def test_unknown_backend_is_a_usage_error(tmp_path, capsys):
    assert main(["bench", "--backends", "tensorflow", "--out", str(tmp_path)]) == 2
    assert "unknown backend tensorflow" in capsys.readouterr().err
