"""The measured peak and the floor derived from it."""

from __future__ import annotations

import pytest
from lexnet.bench.floor import Peak, floor_us_per_flow, measure_peak


def test_floor_is_macs_over_peak():
    peak = Peak("fp32", 2, gmacs=80.0, method="test", repetitions=1)

    # 2.11 M multiply-adds at 80 G/s: 26.4 µs.
    assert floor_us_per_flow(2_112_498, peak) == pytest.approx(26.406, abs=1e-3)
    assert floor_us_per_flow(2_112_498, None) is None


def test_fp32_peak_is_measured_and_plausible():
    peak = measure_peak("fp32", threads=1, budget_s=0.05, side=256)

    assert peak is not None
    assert peak.repetitions >= 3
    # Any CPU this runs on does between 0.1 and 10,000 G multiply-adds/s in FP32 on one thread.
    assert 0.1 < peak.gmacs < 10_000


def test_int8_peak_comes_from_onnxruntime_where_installed():
    pytest.importorskip("onnxruntime", reason="the INT8 peak is measured with ONNX Runtime's MatMulInteger")
    peak = measure_peak("int8", threads=1, budget_s=0.05, side=256)

    assert peak is not None
    assert peak.method.startswith("onnxruntime MatMulInteger")
    assert peak.repetitions >= 3
    assert 0.1 < peak.gmacs < 100_000


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision"):
        measure_peak("fp8", threads=1)


def test_int8_floor_keeps_the_prototype_head_at_the_fp32_peak():
    from lexnet.bench.floor import cell_floor_us

    peaks = {("fp32", 2): Peak("fp32", 2, 100.0, "t", 1), ("int8", 2): Peak("int8", 2, 400.0, "t", 1)}
    parts = {"backbone": 1_600_000, "prototypes": 500_000, "classifier": 100_000}

    # backbone at 400 G/s (4 µs) + head at 100 G/s (6 µs).
    assert cell_floor_us(parts, "int8", 2, peaks) == pytest.approx(10.0)
    assert cell_floor_us(parts, "fp32", 2, peaks) == pytest.approx(22.0)
    # A model without prototypes is quantized whole.
    assert cell_floor_us({"backbone": 1_600_000, "classifier": 400_000}, "int8", 2, peaks) == pytest.approx(5.0)
    assert cell_floor_us(parts, "bf16", 2, peaks) is None


def test_fp32_peak_is_the_fastest_library_measured(monkeypatch, caplog):
    pytest.importorskip("onnxruntime", reason="needs two FP32 products to compare: ONNX Runtime's and torch's")
    pytest.importorskip("torch", reason="needs two FP32 products to compare: ONNX Runtime's and torch's")
    import logging

    from lexnet.bench import floor

    with caplog.at_level(logging.INFO, logger=floor.__name__):
        peak = floor.measure_peak("fp32", threads=1, budget_s=0.05, side=256)

    rates = [r for r in caplog.records if r.getMessage().startswith("fp32, 1 thread(s)")]
    assert len(rates) == 2, [r.getMessage() for r in rates]
    logged = [float(r.getMessage().split(": ")[1].split(" G")[0]) for r in rates]
    assert peak is not None
    assert peak.gmacs == pytest.approx(max(logged), abs=0.05)
    assert any(word in peak.method for word in ("MatMul", "mm"))

    # Where ONNX Runtime is absent the torch product alone decides.
    monkeypatch.setattr(floor, "_onnxruntime_product", lambda *args: None)
    alone = floor.measure_peak("fp32", threads=1, budget_s=0.05, side=256)
    assert alone is not None
    assert alone.method.startswith("mm")
