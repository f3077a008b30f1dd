"""The faithfulness study on a test split: Table 6, the deletion test, and the cost of each explanation (Table 7).

Steps: pick flows -> explain them with LEXNet's prototypes, Grad-CAM and SHAP (on LEXNet, and on LEResNet when a
checkpoint is given) -> Table 6 rows -> deletion test per model -> time per flow of each method.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lexnet.bench import paper
from lexnet.checkpoint import Checkpoint
from lexnet.data.format import FlowDataset
from lexnet.explain import posthoc
from lexnet.explain.deletion import (
    DeletionResult,
    deletion_test,
    no_packet_fill,
    prototype_ranking,
    random_ranking,
)
from lexnet.explain.faithfulness import FaithfulnessRow, cell_ranking, faithfulness, prototype_cells
from lexnet.models import PrototypeClassifier

__all__ = ["PAPER_TABLE6", "PAPER_TABLE7_US", "StudyResult", "run_study", "time_per_flow"]

logger = logging.getLogger(__name__)

# The paper's Table 6 (arXiv 2202.05535v4), method -> {k: share}; where it was read: ``lexnet.bench.paper``.
PAPER_TABLE6: dict[str, dict[int, float]] = paper.TABLE6_PAPER
# The paper's CPU µs per flow (its Table 7, and LEResNet alone from its section 5.1), by the row names
# ``run_study`` times.
PAPER_TABLE7_US: dict[str, float] = {
    "LEXNet (class + prototype positions)": paper.TABLE7_PAPER_US["LEXNet (prototypes, by design)"],
    "LEResNet (class only)": paper.TABLE7_PAPER_US["LEResNet (no explanation)"],
    "LEResNet + Grad-CAM": paper.TABLE7_PAPER_US["LEResNet + Grad-CAM"],
    "LEResNet + SHAP": paper.TABLE7_PAPER_US["LEResNet + SHAP"],
}


@dataclass
class StudyResult:
    """Everything the ``lexnet faithfulness`` command prints."""

    flows: int
    table6: list[FaithfulnessRow]
    deletion: dict[str, DeletionResult]
    microseconds_per_flow: dict[str, float] = field(default_factory=dict)
    distinct_cells: float = 0.0


def time_per_flow(function: Callable[[], object], flows: int, repeats: int = 3) -> float:
    """Median wall time of ``function`` (one call handles ``flows`` flows), in µs per flow, after one warm-up."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times)) / flows * 1e6


def _attributions(
    model: nn.Module, scaled: np.ndarray, baselines: np.ndarray | None, shap_samples: int
) -> dict[str, np.ndarray]:
    return {
        "Grad-CAM": posthoc.grad_cam(model, scaled),
        "SHAP": posthoc.gradient_shap(model, scaled, baselines=baselines, n_samples=shap_samples),
    }


def _sample(data: FlowDataset, flows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(data), size=min(flows, len(data)), replace=False))


def _table6(
    lexnet: PrototypeClassifier, scaled: np.ndarray, others: dict[str, dict[str, np.ndarray]], seed: int
) -> tuple[list[FaithfulnessRow], float]:
    config = lexnet.config
    with torch.inference_mode():
        out = lexnet(torch.from_numpy(scaled))
    cells = prototype_cells(
        out.positions.numpy(),
        out.logits.argmax(1).numpy(),
        config.prototype_classes(),
        config.prototype_shape,
        scaled.shape[-2:],
    )
    rows = [
        faithfulness(f"{method} on {model}", values, cells)
        for model, methods in others.items()
        for method, values in methods.items()
    ]
    noise = np.random.default_rng(seed).random(scaled[:, 0].shape)
    rows.append(faithfulness("random cells", noise, cells))
    distinct = float(np.mean([len(c) == config.prototypes_per_class * np.prod(config.prototype_shape) for c in cells]))
    return rows, distinct


def _timings(
    models: dict[str, nn.Module], inputs: dict[str, np.ndarray], baselines: dict, shap_samples: int
) -> dict[str, float]:
    """µs per flow of classifying, and of classifying plus explaining post hoc, per model (Table 7's rows)."""
    timings = {}
    for name, model in models.items():
        scaled = inputs[name]
        x = torch.from_numpy(scaled)

        def forward(model: nn.Module = model, x: torch.Tensor = x) -> object:
            with torch.inference_mode():
                return model(x)

        what = "class + prototype positions" if name == "LEXNet" else "class only"
        timings[f"{name} ({what})"] = time_per_flow(forward, len(x))
        grad_cam = functools.partial(posthoc.grad_cam, model, scaled)
        shap = functools.partial(
            posthoc.gradient_shap, model, scaled, baselines=baselines[name], n_samples=shap_samples
        )
        timings[f"{name} + Grad-CAM"] = time_per_flow(grad_cam, len(x))
        timings[f"{name} + SHAP"] = time_per_flow(shap, len(x))
    return timings


def run_study(
    lexnet: Checkpoint,
    test: FlowDataset,
    train: FlowDataset | None = None,
    leresnet: Checkpoint | None = None,
    flows: int = 1000,
    shap_samples: int = 32,
    baseline_flows: int = 64,
    seed: int = 0,
    timing: bool = True,
    timing_flows: int = 256,
) -> StudyResult:
    """Table 6, the deletion test and the per-flow cost on ``flows`` flows of ``test``.

    Args:
        lexnet: the LEXNet checkpoint whose prototype positions are compared with the post-hoc methods.
        test: the flows to explain (a random sample of ``flows`` of them).
        train: training flows, sampled for SHAP's baselines (default: zeros, the empty flow).
        leresnet: optionally a LEResNet checkpoint, explained post hoc as in the paper.
        flows: flows explained.
        shap_samples: GradientShap draws per flow.
        baseline_flows: training flows used as SHAP baselines.
        seed: seeds the sample of flows, the baselines, SHAP and the random rankings.
        timing: also measure µs per flow of each method.
        timing_flows: flows of the sample the timings run on (one batch; the median of 3 runs after a warm-up).
    """
    index = _sample(test, flows, seed)
    checkpoints = {"LEXNet": lexnet} if leresnet is None else {"LEXNet": lexnet, "LEResNet": leresnet}
    models = {name: c.build_model() for name, c in checkpoints.items()}
    prototype_model = models["LEXNet"]
    if not isinstance(prototype_model, PrototypeClassifier):
        raise ValueError(f"the first checkpoint must be a prototype model (LEXNet), got {lexnet.config.arch!r}")
    inputs = {name: c.scaling.apply(test.x[index]) for name, c in checkpoints.items()}
    baselines: dict[str, np.ndarray | None] = dict.fromkeys(checkpoints)
    if train is not None and len(train):
        reference = train.x[_sample(train, baseline_flows, seed + 1)]
        baselines = {name: c.scaling.apply(reference) for name, c in checkpoints.items()}
    attributions = {name: _attributions(m, inputs[name], baselines[name], shap_samples) for name, m in models.items()}
    rows, distinct = _table6(prototype_model, inputs["LEXNet"], attributions, seed)
    logger.debug("Table 6 on %d flows: %s", len(index), ", ".join(f"{r.method} {r.all_in_top}" for r in rows))

    deletion = {}
    for name, model in models.items():
        rankings = {}
        if name == "LEXNet":
            rankings["LEXNet prototypes"] = prototype_ranking(prototype_model, inputs[name])
        rankings.update({method: cell_ranking(values) for method, values in attributions[name].items()})
        rankings["random"] = random_ranking(len(index), rankings["Grad-CAM"].shape[1], seed)
        fill = no_packet_fill(checkpoints[name].scaling, checkpoints[name].config.input.packets)
        deletion[name] = deletion_test(model, inputs[name], rankings, fill)

    result = StudyResult(len(index), rows, deletion, distinct_cells=distinct)
    if timing:
        timed = {name: values[:timing_flows] for name, values in inputs.items()}
        result.microseconds_per_flow = _timings(models, timed, baselines, shap_samples)
    return result
