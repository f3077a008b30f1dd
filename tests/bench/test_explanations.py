"""Table 7 rows: LEXNet by design, LEResNet without and with a post-hoc explainer, timed by the same harness."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.torch


def test_gradcam_row_is_timed_next_to_the_forward_passes(tmp_path):
    pytest.importorskip("captum")
    from lexnet.bench.explanations import time_explainers
    from lexnet.bench.floor import Peak
    from lexnet.bench.harness import TimingPolicy
    from lexnet.bench.matrix import MatrixSpec

    spec = MatrixSpec(
        models=("lexnet", "leresnet"),
        backends=("torch",),
        precisions=("fp32",),
        devices=("cpu",),
        batches=(8,),
        threads=(1,),
        policy=TimingPolicy(warmup=0, min_repetitions=1, max_repetitions=1, budget_s=0.0),
        assets=tmp_path,  # no checkpoints there: untrained weights, which the timing does not depend on
        explainers=("gradcam",),
    )
    peaks = {("fp32", 1): Peak("fp32", 1, 50.0, "test", 1)}

    rows = time_explainers(spec, {}, peaks)

    assert [(r["model"], r["explainer"]) for r in rows] == [
        ("lexnet", None),
        ("leresnet", None),
        ("leresnet", "gradcam"),
    ]
    assert all(r["status"] == "ok" for r in rows), rows
    assert all(r["timing"]["repetitions"] == 1 for r in rows)
    assert rows[0]["floor_us"] == pytest.approx(2_112_498 / 50e9 * 1e6)
