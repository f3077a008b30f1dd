"""Cells timed through the project's own export (``lexnet.export``) and runtime API (``lexnet.runtimes``).

Each model gets one bundle per build kind in the work folder (built on first use, reused afterwards):
"main" holds ONNX Runtime, OpenVINO and untuned TVM artifacts; "tuned" holds MetaSchedule-tuned TVM ones. A
cell times ``classifier.run(flows)``. An artifact that failed its export validation (INT8 on untrained
weights agrees poorly with FP32) is still timed through its backend session, and the cell says so: its speed
is real, its outputs are not parity-checked.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lexnet.bench.sources import Loaded, ModelSource, SkipCell

__all__ = ["BundlePolicy", "available", "load", "synthetic_checkpoint"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class BundlePolicy:
    """How the bench builds bundles: small validation sets (parity is the parity suite's job), and which models
    get a tuned TVM build (tuning costs minutes per model)."""

    tune_trials: int = 64
    tuned_models: tuple[str, ...] = ("lexnet",)
    validation_flows: int = 256
    calibration_flows: int = 256
    golden_flows: int = 32
    backends: tuple[str, ...] = ("onnxruntime", "openvino", "tvm")
    precisions: tuple[str, ...] = ("fp32", "bf16", "int8")
    build: bool = True
    budget_minutes: float = 0.0

    def main_name(self) -> str:
        """Bundle folder suffix: what the main bundle holds, so a run asking for other artifacts builds anew."""
        return "-".join(["+".join(sorted(self.backends)), "+".join(sorted(self.precisions))])


def available() -> bool:
    """True when both lexnet.export's bundle writer and the runtime API's ``load`` are importable."""
    if importlib.util.find_spec("lexnet.export.build") is None:
        return False
    try:
        import lexnet.runtimes
        from lexnet.export.build import export_bundle  # noqa: F401  (import check)
    except ImportError:
        return False
    return hasattr(lexnet.runtimes, "load")


def synthetic_checkpoint(source: ModelSource) -> Any:
    """A checkpoint of untrained weights for a model without a shipped one, so it can be exported and timed."""
    from lexnet.checkpoint import Checkpoint
    from lexnet.data.format import ClassInfo

    model = source.build_model()
    classes = [ClassInfo(f"class-{i}") for i in range(source.config.num_classes)]
    return Checkpoint(source.config, classes, source.scaling, model.state_dict(), metrics={})


def _weights_tag(source: ModelSource) -> str:
    """Which weights a cached bundle holds: a checkpoint's digest, or "untrained" (seeded random weights)."""
    if source.checkpoint is None:
        return "untrained"
    digest = hashlib.sha256((source.checkpoint / "weights.safetensors").read_bytes()).hexdigest()
    return digest[:12]


def _bundle(source: ModelSource, kind: str, workdir: Path, policy: BundlePolicy, bundles: dict[str, Path]) -> Path:
    if source.arch in bundles:  # a bundle handed over (lexnet run) serves every kind: artifacts are picked by state
        return bundles[source.arch]
    name = f"tuned{policy.tune_trials}" if kind == "tuned" else policy.main_name()
    path = workdir / "bundles" / f"{source.arch}-{_weights_tag(source)}-{name}"
    if (path / "manifest.json").is_file():
        return path
    if not policy.build:
        raise SkipCell(
            f"the run's time budget ({policy.budget_minutes:.0f} min) was spent before this model's bundle was"
            " built; raise --minutes"
        )
    from lexnet.export.build import ExportOptions, export_bundle

    from lexnet.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(source.checkpoint) if source.checkpoint is not None else synthetic_checkpoint(source)
    common = {
        "keep_failed": True,
        "validation_flows": policy.validation_flows,
        "calibration_flows": policy.calibration_flows,
        "golden_flows": policy.golden_flows,
        "data": None if source.checkpoint is not None else "synth",
    }
    if kind == "tuned":
        options = ExportOptions(backends=("tvm",), precisions=("fp32",), tune_trials=policy.tune_trials, **common)
    else:
        options = ExportOptions(backends=policy.backends, precisions=policy.precisions, **common)
    start = time.perf_counter()
    try:
        export_bundle(checkpoint, path, options, checkpoint_path=source.checkpoint)
    except Exception as error:  # an export failure skips this model's compiled cells, with the exporter's message
        raise SkipCell(f"export failed: {type(error).__name__}: {error}") from error
    logger.info("built %s bundle of %s in %.0f s", kind, source.arch, time.perf_counter() - start)
    return path


def _artifact(bundle: Any, backend: str, precision: str, device: str, tuned: bool | None) -> Any:
    """The bundle's artifact for this cell (a failed one too: it is timed and flagged)."""
    for entry in bundle.manifest.artifacts:
        if (entry.backend, entry.precision, entry.device) != (backend, precision, device):
            continue
        state = entry.tuning.state if entry.tuning is not None else None
        if tuned is None or (state == "tuned") == tuned:
            return entry
    have = sorted(a.id for a in bundle.manifest.artifacts)
    raise SkipCell(f"export built no {backend}/{precision}/{device} artifact here (bundle has {have})")


def load(
    source: ModelSource,
    backend: str,
    precision: str,
    device: str,
    threads: int,
    workdir: Path,
    policy: BundlePolicy | None = None,
    bundles: dict[str, Path] | None = None,
) -> Loaded:
    """Load one cell's artifact through the runtime API, building the model's bundle first if needed."""
    from lexnet.runtimes import BackendUnavailableError, get_backend, open_bundle
    from lexnet.runtimes.classifier import Classifier

    policy = policy or BundlePolicy()
    runtime_backend, tuned = backend, None
    if backend == "tvm":
        if source.arch not in policy.tuned_models:
            raise SkipCell(f"tuned TVM is built for {', '.join(policy.tuned_models)} only (tuning costs minutes)")
        tuned = True
    elif backend == "tvm-untuned":
        runtime_backend, tuned = "tvm", False
    from lexnet.export.build import BACKEND_PRECISIONS

    if precision not in BACKEND_PRECISIONS.get(runtime_backend, ()):
        built = ", ".join(BACKEND_PRECISIONS.get(runtime_backend, ()))
        raise SkipCell(f"lexnet.export builds no {precision} artifact for {runtime_backend} (it builds {built})")
    kind = "tuned" if tuned else "main"
    bundle = open_bundle(_bundle(source, kind, workdir, policy, bundles or {}))
    artifact = _artifact(bundle, runtime_backend, precision, device, tuned)

    start = time.perf_counter()
    try:
        session = get_backend(runtime_backend)(bundle, artifact, device=device, threads=threads)
        session.load()
    except BackendUnavailableError as error:
        raise SkipCell(str(error)) from error
    load_s = time.perf_counter() - start
    classifier = Classifier(bundle, session, precision, owns_bundle=True)
    note = "" if artifact.ok else f"artifact failed export validation ({artifact.error or 'see manifest'})"
    if not source.trained:
        note = "; ".join(filter(None, ["untrained weights", note]))
    size = sum(f.size for f in artifact.files)
    return Loaded(classifier.run, load_s, size, note, classifier.close, classifier.classify)
