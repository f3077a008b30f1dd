"""The benchmark matrix: models x backends x precisions x devices x batch sizes x threads.

Cells that share a model, backend, precision, device and thread count share one loaded artifact (its load time
is reported on each of them); the batch sizes are timed on it in turn. A combination a backend cannot run is
kept in the results as "skipped" with the reason, so every report shows the whole matrix.

With a time budget, each cell's timing budget is what is left divided by the cells still to run, bounded by the
policy's own budget: the release matrix then fits its slot whatever the machine.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lexnet.bench import env, floor, macs, paper
from lexnet.bench.backends import load_backend
from lexnet.bench.harness import Timing, TimingPolicy, time_batches
from lexnet.bench.sources import Loaded, ModelSource, SkipCell, find_model_source, synthetic_flows

__all__ = ["BenchResult", "CellResult", "MatrixSpec", "ModelInfo", "plan", "run_matrix"]

logger = logging.getLogger(__name__)

# A cell's timing budget never drops below this, so even a tight run gets a few repetitions per cell.
MIN_CELL_BUDGET_S = 0.05


@dataclass(frozen=True, kw_only=True)
class MatrixSpec:
    """What to measure and how long to spend."""

    models: tuple[str, ...]
    backends: tuple[str, ...]
    precisions: tuple[str, ...]
    devices: tuple[str, ...]
    batches: tuple[int, ...]
    threads: tuple[int, ...]
    policy: TimingPolicy = field(default_factory=TimingPolicy)
    time_budget_s: float | None = None
    peak_budget_s: float = 1.0
    workdir: Path = Path(".bench-work")
    assets: Path | None = None
    explainers: tuple[str, ...] = ()
    bundles: dict[str, Path] = field(default_factory=dict)
    checkpoints: dict[str, Path] = field(default_factory=dict)
    tuned_models: tuple[str, ...] = ("lexnet",)
    tune_trials: int = 64
    secondary_models: tuple[str, ...] = ()
    secondary_backends: tuple[str, ...] = ("torch", "onnxruntime")
    secondary_precisions: tuple[str, ...] = ("fp32",)

    def secondary_reason(self, cell: Cell) -> str | None:
        """Why a secondary model's cell is not timed in this run (``None``: it is)."""
        if cell.model not in self.secondary_models:
            return None
        if cell.backend in self.secondary_backends and cell.precision in self.secondary_precisions:
            return None
        return (
            f"Table 3's extra CNNs are timed on {'/'.join(self.secondary_backends)} in"
            f" {'/'.join(self.secondary_precisions)} only in this run (name them with --models for every cell)"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["workdir"] = str(self.workdir)
        data["assets"] = None if self.assets is None else str(self.assets)
        data["bundles"] = {k: str(v) for k, v in self.bundles.items()}
        data["checkpoints"] = {k: str(v) for k, v in self.checkpoints.items()}
        return data


@dataclass(frozen=True)
class Cell:
    model: str
    backend: str
    precision: str
    device: str
    batch: int
    threads: int


@dataclass
class CellResult:
    """One cell: its coordinates, what was measured (or why not), and how far it is from the floor."""

    model: str
    backend: str
    precision: str
    device: str
    batch: int
    threads: int
    status: str
    reason: str = ""
    timing: Timing | None = None
    load_s: float | None = None
    artifact_bytes: int | None = None
    floor_us: float | None = None
    note: str = ""
    api: str = "run"

    @property
    def median_us(self) -> float | None:
        return None if self.timing is None else self.timing.median_us

    @property
    def over_floor(self) -> float | None:
        if self.timing is None or not self.floor_us:
            return None
        return self.timing.median_us / self.floor_us

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timing"] = None if self.timing is None else self.timing.to_dict()
        data["over_floor"] = self.over_floor
        return data


@dataclass
class ModelInfo:
    """Per model: parameters, multiply-adds per flow, the checkpoint's accuracy, and the paper's figures."""

    arch: str
    label: str
    params: int
    macs: int
    macs_by_part: dict[str, int]
    accuracy: float | None
    accuracy_source: str | None
    trained: bool
    paper: paper.PaperRow

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["paper"] = asdict(self.paper)
        return data


@dataclass
class BenchResult:
    """Everything one run measured, with the machine it ran on."""

    environment: dict[str, Any]
    spec: MatrixSpec
    peaks: dict[tuple[str, int], floor.Peak]
    models: dict[str, ModelInfo]
    cells: list[CellResult]
    explanations: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "spec": self.spec.to_dict(),
            "peaks": [p.to_dict() for p in self.peaks.values()],
            "models": {k: v.to_dict() for k, v in self.models.items()},
            "cells": [c.to_dict() for c in self.cells],
            "explanations": self.explanations,
            "seconds": self.seconds,
        }


def plan(spec: MatrixSpec) -> list[Cell]:
    """Every cell of the matrix, grouped so cells sharing a loaded artifact are adjacent.

    Models come in the spec's order (most important first), each with all its backends, tuned TVM included: the
    tuned build takes minutes, but the "tuned TVM vs ONNX Runtime" target needs it, and a run short of time
    should lose the last Table 3 models instead.
    """
    cells = [
        Cell(model, backend, precision, device, batch, threads)
        for model in spec.models
        for backend in spec.backends
        for precision in spec.precisions
        for device in spec.devices
        for threads in spec.threads
        for batch in spec.batches
    ]
    return cells


def _model_info(source: ModelSource) -> ModelInfo:
    cost = macs.model_cost(source.config)
    row = paper.PAPER.get(source.arch, paper.PaperRow(source.arch))
    return ModelInfo(
        arch=source.arch,
        label=paper.label(source.arch),
        params=cost.trainable_parameters,
        macs=cost.macs,
        macs_by_part=cost.by_part(),
        accuracy=source.accuracy,
        accuracy_source=source.accuracy_source,
        trained=source.trained,
        paper=row,
    )


class _Budget:
    """Splits what is left of the run's time budget over the cells still to run."""

    def __init__(self, policy: TimingPolicy, total_s: float | None, cells: int) -> None:
        self.policy, self.total_s, self.left = policy, total_s, cells
        self.start = time.perf_counter()

    def exhausted(self) -> bool:
        return self.total_s is not None and time.perf_counter() - self.start > self.total_s

    def next_policy(self) -> TimingPolicy:
        self.left -= 1
        if self.total_s is None:
            return self.policy
        remaining = self.total_s - (time.perf_counter() - self.start)
        # Timing gets about half of each cell's share; loading, warm-up and the minimum repetitions take the rest.
        share = 0.5 * remaining / max(self.left + 1, 1)
        return self.policy.with_budget(max(MIN_CELL_BUDGET_S, min(self.policy.budget_s, share)))


def _run_group(
    cells: list[Cell],
    source: ModelSource,
    info: ModelInfo,
    spec: MatrixSpec,
    peaks: dict[tuple[str, int], floor.Peak],
    budget: _Budget,
) -> list[CellResult]:
    first = cells[0]
    floor_us = floor.cell_floor_us(info.macs_by_part, first.precision, first.threads, peaks)
    if (reason := spec.secondary_reason(first)) is not None:
        for _ in cells:
            budget.next_policy()
        return [CellResult(**asdict(c), status="skipped", reason=reason, floor_us=floor_us) for c in cells]
    # Building a bundle costs minutes: once the run's budget is spent, only bundles already built are timed.
    bundle_policy = _bundle_policy(spec, first.model, build=not budget.exhausted())
    try:
        loaded = load_backend(
            source, first.backend, first.precision, first.device, first.threads, spec.workdir,
            spec.bundles, bundle_policy,
        )  # fmt: skip
    except SkipCell as skip:
        for _ in cells:
            budget.next_policy()
        return [CellResult(**asdict(c), status="skipped", reason=str(skip), floor_us=floor_us) for c in cells]
    except Exception as error:  # a backend failing on one model must not end the whole matrix
        logger.warning("%s on %s %s failed to load: %s", first.model, first.backend, first.precision, error)
        for _ in cells:
            budget.next_policy()
        reason = f"load failed: {type(error).__name__}: {error}"
        return [CellResult(**asdict(c), status="failed", reason=reason, floor_us=floor_us) for c in cells]

    flows = synthetic_flows(max(c.batch for c in cells), source.config.input)
    results = []
    for cell in cells:
        policy = budget.next_policy()
        common = {"load_s": loaded.load_s, "artifact_bytes": loaded.artifact_bytes, "floor_us": floor_us}
        try:
            timing = time_batches(loaded.run, flows[: cell.batch], policy)
        except Exception as error:  # recorded as a failed cell with the backend's message
            logger.warning("%s failed: %s", cell, error)
            results.append(CellResult(**asdict(cell), status="failed", reason=f"{type(error).__name__}: {error}"))
            continue
        result = CellResult(**asdict(cell), status="ok", timing=timing, note=loaded.note, **common)
        logger.info(
            "%s %s %s %s batch %d, %d thread(s): %.1f us/flow (p10 %.1f, p90 %.1f), %.2fx floor",
            cell.model, cell.backend, cell.precision, cell.device, cell.batch, cell.threads,
            timing.median_us, timing.p10_us, timing.p90_us, result.over_floor or float("nan"),
        )  # fmt: skip
        results.append(result)
        if cell.batch == 1 and loaded.classify is not None:
            results.append(_time_classify(cell, loaded, flows, policy, common))
    if loaded.close is not None:
        loaded.close()
    return results


def _bundle_policy(spec: MatrixSpec, arch: str, build: bool = True) -> Any:
    """What the bench's bundle of ``arch`` holds: the compiled backends and precisions this matrix times for it."""
    from lexnet.bench._runtimes import BundlePolicy

    backends, precisions = spec.backends, spec.precisions
    if arch in spec.secondary_models:
        backends, precisions = spec.secondary_backends, spec.secondary_precisions
    compiled = tuple(dict.fromkeys("tvm" if b.startswith("tvm") else b for b in backends if b != "torch"))
    return BundlePolicy(
        tuned_models=spec.tuned_models,
        tune_trials=spec.tune_trials,
        backends=compiled,
        precisions=precisions,
        build=build,
        budget_minutes=(spec.time_budget_s or 0) / 60,
    )


def _time_classify(
    cell: Cell, loaded: Loaded, flows: np.ndarray, policy: TimingPolicy, common: dict[str, Any]
) -> CellResult:
    """Batch-1 latency through the full API: input checks, the model and the explanation objects."""
    if loaded.classify is None:
        raise ValueError(f"{cell.backend} has no classify() to time")
    timing = time_batches(loaded.classify, flows[:1], policy)
    logger.info("%s %s %s classify() batch 1: %.1f us/flow", cell.model, cell.backend, cell.precision, timing.median_us)
    return CellResult(**asdict(cell), status="ok", timing=timing, note=loaded.note, api="classify", **common)


def run_matrix(spec: MatrixSpec, progress: Callable[[CellResult, int, int], None] | None = None) -> BenchResult:
    """Measure every cell of ``spec``; ``progress(result, done, total)`` is called after each cell."""
    start = time.perf_counter()
    environment = env.describe_environment()
    peaks = floor.measure_peaks(list(spec.threads), spec.peak_budget_s)
    cells = plan(spec)
    left_s = None if spec.time_budget_s is None else spec.time_budget_s - (time.perf_counter() - start)
    budget = _Budget(spec.policy, left_s, len(cells))

    sources = {arch: find_model_source(arch, spec.assets, spec.checkpoints.get(arch)) for arch in spec.models}
    models = {arch: _model_info(source) for arch, source in sources.items()}
    results: list[CellResult] = []
    index = done = 0
    while index < len(cells):
        first = cells[index]
        group = [first]
        while index + len(group) < len(cells) and _same_group(cells[index + len(group)], first):
            group.append(cells[index + len(group)])
        for result in _run_group(group, sources[first.model], models[first.model], spec, peaks, budget):
            results.append(result)
            done += result.api == "run"
            if progress is not None:
                progress(result, done, len(cells))
        index += len(group)

    explanations = []
    if spec.explainers:
        from lexnet.bench.explanations import time_explainers

        explanations = time_explainers(spec, sources, peaks)
    environment["load_average_end"] = env.load_average()
    return BenchResult(environment, spec, peaks, models, results, explanations, time.perf_counter() - start)


def _same_group(a: Cell, b: Cell) -> bool:
    return (a.model, a.backend, a.precision, a.device, a.threads) == (
        b.model,
        b.backend,
        b.precision,
        b.device,
        b.threads,
    )


def all_cores() -> int:
    """Usable cores of this process (its affinity mask where the platform has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else (os.cpu_count() or 1)
