"""The parity metrics on hand-made outputs: agreement, tie detection, thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from lexnet.runtimes.base import RawOutputs
from lexnet.runtimes.parity import ParityResult, compare_outputs, distance_from_similarity, format_table

from lexnet.spec import PRECISION_TOLERANCES

PROTOTYPE_CLASSES = np.array([0, 0, 1, 1])


def _similarity(distance: np.ndarray) -> np.ndarray:
    return np.log((distance + 1) / (distance + 1e-4)).astype(np.float32)


def _outputs(logits: list[list[float]], distances: list[list[float]], positions: list[list[list[int]]]) -> RawOutputs:
    return RawOutputs(
        np.array(logits, np.float32), _similarity(np.array(distances)), np.array(positions, dtype=np.int64)
    )


def _result() -> ParityResult:
    return ParityResult("a", "onnxruntime", "fp32", "cpu", "unit", "torch")


REFERENCE = _outputs(
    [[2.0, 1.0], [1.0, 3.0], [0.5, 0.5005]],
    [[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8], [0.9, 1.0, 1.1, 1.2]],
    [[[0, 0], [1, 0], [2, 0], [3, 0]]] * 3,
)


def test_similarity_inverts_to_distance() -> None:
    distances = np.array([0.0, 1e-3, 0.5, 3.0, 40.0])
    np.testing.assert_allclose(distance_from_similarity(_similarity(distances)), distances, rtol=1e-4, atol=1e-6)


def test_identical_outputs_agree_fully() -> None:
    result = compare_outputs(_result(), REFERENCE, REFERENCE, PROTOTYPE_CLASSES, PRECISION_TOLERANCES["fp32"])
    assert (result.prediction_agreement, result.position_agreement) == (1.0, 1.0)
    assert (result.prediction_ties, result.position_ties, result.max_abs_logits) == (0, 0, 0.0)
    assert result.passed


def test_every_prediction_disagreement_counts_and_near_ties_are_reported() -> None:
    candidate = RawOutputs(REFERENCE.logits[:, ::-1].copy(), REFERENCE.similarities, REFERENCE.positions)
    result = compare_outputs(_result(), REFERENCE, candidate, PROTOTYPE_CLASSES, PRECISION_TOLERANCES["bf16"])
    # flows 0 and 1 swap clear winners; flow 2's logits differ by 5e-4 < 1e-2: a near tie, still a disagreement
    assert result.prediction_ties == 1
    assert result.prediction_agreement == 0.0
    assert not result.passed
    assert any("prediction agreement" in f for f in result.failures)


def test_position_moves_are_ties_only_when_the_reference_distance_is_equal() -> None:
    positions = REFERENCE.positions.copy()
    positions[0, 0] = [5, 1]  # flow 0 (class 0): prototype 0 moved
    positions[1, 2] = [6, 1]  # flow 1 (class 1): prototype 2 moved
    positions[2, 3] = [7, 0]  # flow 2 (class 1): prototype 3 moved
    candidate = RawOutputs(REFERENCE.logits, REFERENCE.similarities, positions)

    def reference_distance_at(flows, prototypes, packets, variables):
        best = distance_from_similarity(REFERENCE.similarities[flows, prototypes])
        return np.where(flows == 0, best, best + 0.5)  # flow 0's new position ties exactly, the others do not

    result = compare_outputs(
        _result(), REFERENCE, candidate, PROTOTYPE_CLASSES, PRECISION_TOLERANCES["fp32"], reference_distance_at
    )
    assert result.position_ties == 1
    assert result.position_agreement == 0.0
    assert not result.passed


def test_moves_outside_the_predicted_class_do_not_count() -> None:
    positions = REFERENCE.positions.copy()
    positions[0, 2] = [9, 1]  # flow 0 predicts class 0; prototype 2 belongs to class 1
    candidate = RawOutputs(REFERENCE.logits, REFERENCE.similarities, positions)
    result = compare_outputs(_result(), REFERENCE, candidate, PROTOTYPE_CLASSES, PRECISION_TOLERANCES["fp32"])
    assert result.position_agreement == 1.0


def test_fp32_fails_on_logit_drift_alone() -> None:
    candidate = RawOutputs(REFERENCE.logits + 2e-3, REFERENCE.similarities, REFERENCE.positions)
    result = compare_outputs(_result(), REFERENCE, candidate, PROTOTYPE_CLASSES, PRECISION_TOLERANCES["fp32"])
    assert result.prediction_agreement == 1.0
    assert result.max_abs_logits == pytest.approx(2e-3, rel=1e-3)
    assert result.failures == [f"max |logits diff| {result.max_abs_logits:.6g} (needs <= 0.001)"]


def test_table_shows_every_row() -> None:
    passed = compare_outputs(_result(), REFERENCE, REFERENCE, PROTOTYPE_CLASSES, PRECISION_TOLERANCES["fp32"])
    skipped = ParityResult("b", "tvm", "fp32", "cuda", "unit", "torch", skipped="no cuda device here")
    table = format_table([passed, skipped]).splitlines()
    assert len(table) == 4
    assert table[2].split()[0] == "a"
    assert table[2].endswith("PASS")
    assert table[3].endswith("SKIP: no cuda device here")


def test_models_without_prototypes_are_judged_on_logits_only() -> None:
    reference = RawOutputs(REFERENCE.logits)
    candidate = RawOutputs(REFERENCE.logits + 1e-4)
    result = compare_outputs(_result(), reference, candidate, None, PRECISION_TOLERANCES["fp32"])
    assert result.passed
    assert np.isnan(result.position_agreement)
    assert "n/a" in format_table([result]).splitlines()[2]


def test_a_near_tie_still_lowers_prediction_agreement() -> None:
    logits = REFERENCE.logits.copy()
    logits[2] = logits[2, ::-1]  # only the near-tied flow flips
    candidate = RawOutputs(logits, REFERENCE.similarities, REFERENCE.positions)
    result = compare_outputs(_result(), REFERENCE, candidate, PROTOTYPE_CLASSES, PRECISION_TOLERANCES["bf16"])
    assert result.prediction_ties == 1
    assert result.prediction_agreement == pytest.approx(2 / 3)


def test_fp32_leaves_near_tied_predictions_out() -> None:
    logits = REFERENCE.logits.copy()
    logits[2] = logits[2, ::-1]  # 5e-4 apart: beyond FP32's tie tolerance (1e-4 x max(1, |logit|))
    candidate = RawOutputs(logits, REFERENCE.similarities, REFERENCE.positions)
    tight = compare_outputs(_result(), REFERENCE, candidate, PROTOTYPE_CLASSES, PRECISION_TOLERANCES["fp32"])
    assert tight.prediction_ties == 0
    assert tight.prediction_agreement == pytest.approx(2 / 3)

    reference = RawOutputs(
        np.array([[2.0, 1.0], [1.0, 3.0], [0.5, 0.50002]], np.float32), REFERENCE.similarities, REFERENCE.positions
    )
    logits = reference.logits.copy()
    logits[2] = logits[2, ::-1]
    candidate = RawOutputs(logits, REFERENCE.similarities, REFERENCE.positions)
    result = compare_outputs(_result(), reference, candidate, PROTOTYPE_CLASSES, PRECISION_TOLERANCES["fp32"])
    assert result.prediction_ties == 1
    assert result.prediction_agreement == 1.0
    assert result.passed
