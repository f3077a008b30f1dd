"""Reports built from a hand-made result: table shapes, "n/a" for figures the paper source lacks, ratios."""

from __future__ import annotations

import json

import pytest
from lexnet.bench import paper
from lexnet.bench.floor import Peak
from lexnet.bench.harness import Timing
from lexnet.bench.matrix import BenchResult, CellResult, MatrixSpec, ModelInfo
from lexnet.bench.reports import main_table, ratios, table4, table5, write_reports


def _timing(us: float, batch: int) -> Timing:
    return Timing(
        batch,
        1,
        5,
        us,
        us * 0.9,
        us * 0.95,
        us * 1.05,
        us * 1.1,
        us,
        us * 0.8,
        us * 1.2,
        0.1,
        1e6 / us,
        1.0,
        100.0,
        1.0,
    )


def _result() -> BenchResult:
    spec = MatrixSpec(
        models=("lexnet", "leresnet", "resnet"),
        backends=("torch", "onnxruntime"),
        precisions=("fp32", "int8"),
        devices=("cpu",),
        batches=(1, 64),
        threads=(2,),
    )
    times = {("lexnet", "onnxruntime", "fp32"): 40.0, ("leresnet", "onnxruntime", "fp32"): 32.0}
    times.update({("lexnet", "onnxruntime", "int8"): 20.0, ("lexnet", "torch", "fp32"): 200.0})
    cells = []
    for model in spec.models:
        for backend in spec.backends:
            for precision in spec.precisions:
                for batch in spec.batches:
                    us = times.get((model, backend, precision))
                    if us is None:
                        cells.append(CellResult(model, backend, precision, "cpu", batch, 2, "skipped", reason="why"))
                        continue
                    us = us * (3 if batch == 1 else 1)
                    cells.append(
                        CellResult(
                            model, backend, precision, "cpu", batch, 2, "ok", timing=_timing(us, batch), floor_us=25.0
                        )
                    )
    models = {
        arch: ModelInfo(
            arch, paper.label(arch), 1000, 2_000_000, {"backbone": 2_000_000}, None, None, False, paper.PAPER[arch]
        )
        for arch in spec.models
    }
    environment = {
        "host": "h",
        "cpu": "cpu",
        "machine": "x86_64",
        "python": "3",
        "date": "2026-01-01T00:00:00+00:00",
        "isa": ["avx2"],
        "threads": {"usable_cores": 2},
        "libraries": {"numpy": "2"},
        "load_average_start": [0.0],
    }
    peaks = {("fp32", 2): Peak("fp32", 2, 80.0, "test", 3)}
    return BenchResult(environment, spec, peaks, models, cells, [], 1.0)


def test_ratios_follow_the_cells():
    r = ratios(_result())

    assert r["fastest_lexnet"]["backend"] == "onnxruntime"
    assert r["fastest_lexnet"]["precision"] == "int8"
    assert r["fastest_lexnet"]["over_floor"] == pytest.approx(20.0 / 25.0)
    assert r["per_backend"]["onnxruntime"]["lexnet_over_leresnet"] == pytest.approx(40.0 / 32.0)
    assert r["per_backend"]["onnxruntime"]["int8_speedup"] == pytest.approx(2.0)
    assert r["batch1_best"]["us"] == pytest.approx(60.0)


def test_ablation_tables_list_their_rows_with_na_for_missing_paper_figures():
    result = _result()

    t4 = table4(result)
    rows = [line for line in t4.splitlines() if line.startswith("| ") and "model" not in line]
    # Table 4 rows present in the result: ResNet and LEResNet (ResNet + linear was not measured).
    assert [r.split("|")[1].strip() for r in rows] == ["ResNet", "LEResNet"]
    assert "| 306,691 |" in t4  # the paper's parameter count of ResNet
    resnet = next(r for r in rows if r.split("|")[1].strip() == "ResNet")
    assert "| 90.40% |" in resnet  # the paper's accuracy (v4, Table 3)
    assert "| 34.6 |" in resnet  # and its CPU µs per flow
    assert "LEXNet" in table5(result)


def test_every_cited_paper_figure_says_where_it_was_read():
    from lexnet.bench import paper

    for arch, row in paper.PAPER.items():
        if row.accuracy is not None or row.us_per_flow is not None:
            assert "2202.05535v4" in (row.results_source or ""), arch
        if row.params is not None:
            assert row.source == paper.DESIGN_NOTES, arch
    # Table 4 row (5) is a change from row (4) in the paper: 90.4 - 0.5 points, 129.6 - 11.9 µs
    linear = paper.PAPER["protopnet_lproto_linear"]
    assert (linear.accuracy, linear.us_per_flow) == (pytest.approx(0.899), pytest.approx(117.7))
    assert paper.LEXNET_OVER_LERESNET_CPU[0] == pytest.approx(102.7 / 20.3, abs=0.01)


def test_main_table_shows_skips_with_their_reason():
    table = main_table(_result())

    assert "| LEXNet | torch | int8 | skipped |" in table
    assert "why" in table


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # matplotlib's own imports on some versions
def test_write_reports_writes_every_kind(tmp_path):
    pytest.importorskip("matplotlib")
    paths = write_reports(_result(), tmp_path)

    assert {"markdown", "json", "csv", "pytest_benchmark", "accuracy_vs_us", "us_vs_batch_lexnet"} <= set(paths)
    bench_json = json.loads(paths["pytest_benchmark"].read_text())
    measured = [b for b in bench_json["benchmarks"] if b["group"] == "lexnet"]
    assert len(measured) == 6  # 3 measured configurations x 2 batches
    wanted = {"backend": "onnxruntime", "precision": "fp32", "device": "cpu", "batch": 64, "threads": 2}
    one = next(b for b in measured if b["params"] == wanted)
    assert one["stats"]["median"] == pytest.approx(40e-6)
    assert one["stats"]["ops"] == pytest.approx(25_000)
    csv_lines = paths["csv"].read_text().splitlines()
    assert len(csv_lines) == 1 + len(_result().cells)


def test_checkpoint_accuracy_takes_the_hold_out_figure_never_the_training_one():
    from lexnet.bench.sources import checkpoint_accuracy

    flat = {"train_accuracy_last_pass": 0.81, "test_accuracy": 0.79, "test_flows": 10000}
    nested = {"train": {"accuracy": 0.9}, "test": {"accuracy": 0.7}}

    assert checkpoint_accuracy(flat) == (0.79, "test_accuracy")
    assert checkpoint_accuracy(nested) == (0.7, "test.accuracy")
    assert checkpoint_accuracy({"train_accuracy": 0.9}) == (None, None)


def test_checkpoint_accuracy_falls_back_to_any_non_training_accuracy():
    from lexnet.bench.sources import checkpoint_accuracy

    assert checkpoint_accuracy({"accuracy": 0.5}) == (0.5, "accuracy")
