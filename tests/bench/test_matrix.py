"""The matrix: every combination is planned, and cells that cannot run say why instead of disappearing."""

from __future__ import annotations

import pytest
from lexnet.bench.harness import TimingPolicy
from lexnet.bench.matrix import Cell, MatrixSpec, plan, run_matrix


def _spec(**changes) -> MatrixSpec:
    values = {
        "models": ("lexnet", "cnn1d"),
        "backends": ("torch", "onnxruntime"),
        "precisions": ("fp32", "int8"),
        "devices": ("cpu",),
        "batches": (1, 4),
        "threads": (1,),
        "policy": TimingPolicy(warmup=0, min_repetitions=1, max_repetitions=2, budget_s=0.0),
        "peak_budget_s": 0.01,
    }
    values.update(changes)
    return MatrixSpec(**values)


def test_plan_covers_every_combination_grouped_by_loaded_artifact():
    cells = plan(_spec())

    assert len(cells) == 2 * 2 * 2 * 1 * 1 * 2
    assert cells[0] == Cell("lexnet", "torch", "fp32", "cpu", 1, 1)
    assert cells[1] == Cell("lexnet", "torch", "fp32", "cpu", 4, 1)  # batches vary fastest: one load per pair


def test_plan_keeps_each_model_together_tuned_tvm_included():
    cells = plan(_spec(backends=("torch", "tvm", "onnxruntime")))

    models = [c.model for c in cells]
    assert models == sorted(models, key=("lexnet", "cnn1d").index)  # LEXNet's tuned TVM is not pushed to the end
    assert [c.backend for c in cells if c.model == "lexnet"][:8:4] == ["torch", "tvm"]


def test_secondary_models_run_only_their_backends_and_precisions():
    spec = _spec(secondary_models=("cnn1d",))

    assert spec.secondary_reason(Cell("cnn1d", "onnxruntime", "fp32", "cpu", 1, 1)) is None
    assert "fp32" in spec.secondary_reason(Cell("cnn1d", "onnxruntime", "int8", "cpu", 1, 1))
    assert spec.secondary_reason(Cell("lexnet", "onnxruntime", "int8", "cpu", 1, 1)) is None


@pytest.mark.torch
def test_spent_budget_skips_compiled_cells_with_the_reason(tmp_path):
    spec = _spec(models=("lexnet",), precisions=("fp32",), time_budget_s=0.0, workdir=tmp_path, assets=tmp_path)

    result = run_matrix(spec)

    by_backend = {(c.backend, c.batch): c for c in result.cells}
    assert by_backend[("torch", 4)].status == "ok"  # eager cells need no bundle: they still run
    assert by_backend[("onnxruntime", 4)].status == "skipped"
    assert "time budget" in by_backend[("onnxruntime", 4)].reason
    assert not (tmp_path / "bundles").exists()  # no export was started
