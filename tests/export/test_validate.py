"""Agreement figures: ties are not disagreements, and FP32 holds logits to the fixed tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from lexnet.export.validate import Outputs, Reference, compare

from lexnet.spec import PRECISION_TOLERANCES

CLASSES = np.array([0, 0, 1, 1])  # 2 prototypes per class


def _reference(min_distance: float) -> Reference:
    """Two flows, 4 prototypes of depth 8, 3 positions of a width-1 map; class 0 is predicted for both."""
    logits = np.array([[2.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    similarities = np.ones((2, 4), dtype=np.float32)
    positions = np.zeros((2, 4, 2), dtype=np.int64)
    # Distances of the predicted class's 2 prototypes at the 3 positions: position 0 is the minimum,
    # and for flow 1 position 2 ties with it exactly.
    class_distances = np.array([[[min_distance, 1.0, 2.0]] * 2, [[min_distance, 1.0, min_distance]] * 2])
    return Reference(
        raw=np.zeros((2, 3), dtype=np.int16),
        outputs=Outputs(logits, similarities, positions),
        min_distances=np.full((2, 4), min_distance, dtype=np.float32),
        class_distances=class_distances.astype(np.float32),
        prototype_classes=CLASSES,
        map_width=1,
    )


def test_a_tie_is_not_a_position_disagreement() -> None:
    reference = _reference(0.5)
    positions = reference.outputs.positions.copy()
    positions[1, 0] = (2, 0)  # flow 1 picks the other tied position
    tie = compare(reference, Outputs(reference.outputs.logits, reference.outputs.similarities, positions),
                  PRECISION_TOLERANCES["fp32"])  # fmt: skip

    positions[0, 1] = (1, 0)  # flow 0 picks a strictly worse position
    wrong = compare(reference, Outputs(reference.outputs.logits, reference.outputs.similarities, positions),
                    PRECISION_TOLERANCES["fp32"])  # fmt: skip

    assert tie.position_agreement == 1.0
    assert tie.passed
    assert wrong.position_agreement == 0.5
    assert not wrong.passed


def test_fp32_logits_tolerance_is_fixed_even_near_an_exact_match() -> None:
    tolerance = PRECISION_TOLERANCES["fp32"]
    exact = _reference(0.0)
    within = compare(exact, Outputs(exact.outputs.logits + np.float32(5e-4), *exact.outputs[1:]), tolerance)
    beyond = compare(exact, Outputs(exact.outputs.logits + np.float32(5e-3), *exact.outputs[1:]), tolerance)

    assert within.passed
    assert not beyond.passed
    assert beyond.max_abs_logits == pytest.approx(5e-3, rel=1e-3)


def test_reduced_precision_checks_agreement_not_logits() -> None:
    reference = _reference(1.0)
    flipped = reference.outputs.logits.copy()
    flipped[0] = [0.0, 2.0]  # one of two predictions changes

    result = compare(reference, Outputs(flipped, *reference.outputs[1:]), PRECISION_TOLERANCES["int8"])

    assert result.prediction_agreement == 0.5
    assert not result.passed
