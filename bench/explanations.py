"""Table 7: what an explanation costs per flow, by design (LEXNet's prototypes) or post hoc on LEResNet.

Every row is timed in eager PyTorch with the same harness as the matrix, on the same flows: LEXNet's forward
pass (its explanation comes with the prediction), LEResNet's forward pass (no explanation), and LEResNet's
forward pass plus a post-hoc attribution from ``lexnet.explain.posthoc`` (Grad-CAM, SHAP).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from lexnet.bench import floor, macs
from lexnet.bench.harness import time_batches
from lexnet.bench.sources import ModelSource, find_model_source, synthetic_flows

if TYPE_CHECKING:
    from lexnet.bench.matrix import MatrixSpec

__all__ = ["EXPLAINERS", "time_explainers"]

logger = logging.getLogger(__name__)

# Report name -> the posthoc module's method name.
EXPLAINERS = {"gradcam": "grad-cam", "shap": "gradient-shap", "kernel-shap": "kernel-shap"}
# Post-hoc attributions run forward and backward passes per flow: a moderate batch keeps a cell short.
EXPLANATION_BATCH = 64


def _runner(source: ModelSource, explainer: str | None) -> Callable[[np.ndarray], object]:
    import torch

    model = source.build_model()
    scaling = source.scaling
    if explainer is None:

        def forward(flows: np.ndarray) -> object:
            with torch.inference_mode():
                return model(torch.from_numpy(scaling.apply(flows)))

        return forward

    from lexnet.explain.posthoc import ATTRIBUTION_METHODS

    method = ATTRIBUTION_METHODS[EXPLAINERS[explainer]]
    baselines = scaling.apply(synthetic_flows(16, source.config.input, seed=1))
    kwargs = {} if explainer == "gradcam" else {"baselines": baselines}

    def explain(flows: np.ndarray) -> object:
        return method(model, scaling.apply(flows), **kwargs)

    return explain


def time_explainers(
    spec: MatrixSpec, sources: dict[str, ModelSource], peaks: dict[tuple[str, int], floor.Peak]
) -> list[dict[str, Any]]:
    """Time Table 7's rows; a row whose explainer cannot run is kept with the reason."""
    import torch
    from lexnet.bench.paper import TABLE7_ROWS

    threads = max(spec.threads)
    torch.set_num_threads(threads)
    rows: list[dict[str, Any]] = []
    for arch, explainer, row_label in TABLE7_ROWS:
        if explainer is not None and explainer not in spec.explainers:
            continue
        source = sources.get(arch) or find_model_source(arch, spec.assets)
        row: dict[str, Any] = {"model": arch, "explainer": explainer, "label": row_label, "threads": threads}
        row["batch"] = EXPLANATION_BATCH
        try:
            run = _runner(source, explainer)
            flows = synthetic_flows(EXPLANATION_BATCH, source.config.input)
            timing = time_batches(run, flows, spec.policy)
        except (ImportError, RuntimeError, ValueError) as error:
            logger.warning("Table 7 row %s could not be timed: %s", row_label, error)
            rows.append({**row, "status": "failed", "reason": f"{type(error).__name__}: {error}"})
            continue
        cost = macs.model_cost(source.config)
        floor_us = floor.floor_us_per_flow(cost.macs, peaks.get(("fp32", threads)))
        rows.append({**row, "status": "ok", "timing": timing.to_dict(), "floor_us": floor_us})
        logger.info("Table 7 %s: %.1f us/flow", row_label, timing.median_us)
    return rows
