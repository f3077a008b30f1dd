"""``export_bundle``: checkpoint -> golden vectors -> one artifact per backend x precision x target -> bundle.

Each artifact is built, then validated against the checkpoint's PyTorch FP32 outputs on held-out flows
before it enters the manifest. The whole bundle is staged beside its destination and renamed into place at
the end (``lexnet.export.bundle.staged_directory``).
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from lexnet.export import host
from lexnet.export.bundle import file_entry, pack_tar, save_array, staged_directory
from lexnet.export.onnx import DEFAULT_HEAD_LAYOUT, DEFAULT_OPSET, OnnxGraph, export_onnx, numpy_inputs
from lexnet.export.validate import Outputs, Reference, ValidationError, compare, reference_outputs, run_batched
from lexnet.runtimes.manifest import (
    FORMAT_VERSION,
    ArtifactEntry,
    ClassEntry,
    FileEntry,
    GoldenInfo,
    InputInfo,
    Manifest,
    ModelInfo,
    PrototypesInfo,
    QuantizationInfo,
    TuningInfo,
    ValidationInfo,
    sha256_file,
    write_manifest,
)

from lexnet.spec import PRECISION_TOLERANCES

if TYPE_CHECKING:
    from lexnet.checkpoint import Checkpoint

__all__ = ["BACKEND_PRECISIONS", "ArtifactResult", "ExportOptions", "ExportResult", "export_bundle"]

logger = logging.getLogger(__name__)

# What each backend builds; other combinations are reported as skipped.
BACKEND_PRECISIONS: dict[str, tuple[str, ...]] = {
    "onnxruntime": ("fp32", "int8"),
    "openvino": ("fp32", "bf16", "int8"),
    "tvm": ("fp32", "int8"),
}


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """What ``export_bundle`` builds and how.

    Attributes:
        backends: among "onnxruntime", "openvino", "tvm".
        precisions: among "fp32", "bf16", "int8".
        targets: TVM targets (named or JSON dicts; see ``lexnet.export.tvm.resolve_target``).
        tune_trials: MetaSchedule trials per TVM library (0: untuned).
        data: calibration and validation flows: a data set directory, "synth", or ``None`` for the
            checkpoint's own data source.
        quantize_head: quantize the prototype head too (default: it stays FP32).
        keep_failed: keep artifacts that fail validation, marked failed, instead of failing the export.
        tar: also pack the bundle into one .tar next to it.
        input_mode: "raw" (int16 sizes, scaling in the graph) or "scaled".
        opset: ONNX opset.
        golden_flows: golden vectors stored in the bundle.
        validation_flows: held-out flows each artifact is validated on.
        calibration_flows: training flows INT8 calibration sees.
        tvm_batch: the static batch of TVM libraries.
        threads: threads for validation runs (``None``: the library's default).
        progress: show a progress bar over artifacts.
    """

    backends: tuple[str, ...] = ("onnxruntime", "openvino", "tvm")
    precisions: tuple[str, ...] = ("fp32", "bf16", "int8")
    targets: tuple[str, ...] = ("native",)
    tune_trials: int = 0
    data: str | None = None
    quantize_head: bool = False
    keep_failed: bool = False
    tar: bool = False
    input_mode: str = "raw"
    opset: int = DEFAULT_OPSET
    golden_flows: int = 256
    validation_flows: int = 2000
    calibration_flows: int = 1024
    tvm_batch: int = 64
    threads: int | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.backends) - set(BACKEND_PRECISIONS))
        if unknown:
            raise ValueError(f"unknown backend(s) {unknown}; choose from {sorted(BACKEND_PRECISIONS)}")
        unknown = sorted(set(self.precisions) - set(PRECISION_TOLERANCES))
        if unknown:
            raise ValueError(f"unknown precision(s) {unknown}; choose from {sorted(PRECISION_TOLERANCES)}")
        if self.tune_trials < 0:
            raise ValueError(f"tune_trials must be >= 0, got {self.tune_trials}")
        for name in ("golden_flows", "validation_flows", "calibration_flows", "tvm_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class ArtifactResult:
    """One row of the export summary."""

    id: str
    status: str  # "ok", "failed" or "skipped"
    size: int = 0
    build_seconds: float = 0.0
    tuning_seconds: float = 0.0
    validation: ValidationInfo | None = None
    reason: str = ""


@dataclass
class ExportResult:
    """What ``export_bundle`` wrote."""

    bundle: Path
    manifest: Manifest
    artifacts: list[ArtifactResult] = field(default_factory=list)
    tar: Path | None = None


@dataclass
class _Context:
    """Everything the artifact builders share during one export."""

    checkpoint: Checkpoint
    options: ExportOptions
    stage: Path
    work: Path
    fp32_onnx: OnnxGraph
    reference: Reference
    calibration: np.ndarray
    _int8_onnx: dict[bool, Path] = field(default_factory=dict)
    _head_layouts: dict[str, Path] = field(default_factory=dict)

    def inputs(self, raw: np.ndarray) -> np.ndarray:
        return numpy_inputs(raw, self.checkpoint.scaling, self.options.input_mode)

    def onnx_with_head(self, layout: str) -> Path:
        """The FP32 graph with its head in ``layout`` (see ``lexnet.export._graph``); built once per layout."""
        if layout == DEFAULT_HEAD_LAYOUT or "prototype_positions" not in self.fp32_onnx.outputs:
            return self.fp32_onnx.path
        if layout not in self._head_layouts:
            path = self.work / f"model-{layout}.onnx"
            options = self.options
            graph = export_onnx(self.checkpoint, path, options.input_mode, options.opset, head_layout=layout)
            self._head_layouts[layout] = graph.path
        return self._head_layouts[layout]

    def int8_onnx(self) -> Path:
        """The QDQ graph (built once, shared by ONNX Runtime and TVM)."""
        if self.options.quantize_head not in self._int8_onnx:
            from lexnet.export.quantize import quantize_onnx

            path = self.work / "model-int8.onnx"
            quantize_onnx(
                self.fp32_onnx.path, path, self.inputs(self.calibration), quantize_head=self.options.quantize_head
            )
            self._int8_onnx[self.options.quantize_head] = path
        return self._int8_onnx[self.options.quantize_head]


@dataclass
class _Built:
    """What a builder returns: the artifact's files and how to run it (``None``: cannot run on this host)."""

    files: list[Path]
    run: Callable[[np.ndarray], Outputs] | None
    batch_size: int
    target: dict[str, Any] | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    tuning: TuningInfo | None = None
    quantization: QuantizationInfo | None = None
    opset: int | None = None


def _load_flows(checkpoint: Checkpoint, options: ExportOptions) -> tuple[np.ndarray, np.ndarray]:
    """(calibration flows from the training split, held-out flows from the test split), as raw int16 sizes."""
    from lexnet.data.format import read_split

    spec = checkpoint.config.input
    if options.data is not None and Path(options.data).is_dir():
        train, test = read_split(options.data, "train", spec), read_split(options.data, "test", spec)
        source = options.data
    else:
        train, test, source = _source_flows(checkpoint, options)
    rng = np.random.default_rng(0)
    calibration = train.x[rng.permutation(len(train))[: options.calibration_flows]]
    held_out = test.x[rng.permutation(len(test))[: options.validation_flows]]
    logger.info("flows: %d for calibration, %d held out for validation (%s)", len(calibration), len(held_out), source)
    return calibration.astype(np.int16), held_out.astype(np.int16)


def _source_flows(checkpoint: Checkpoint, options: ExportOptions) -> tuple[Any, Any, str]:
    """Flows of ``options.data`` as a data source ("synth", "synth:seed=3,..."), else of the checkpoint's own
    data source, else synthetic flows of the checkpoint's class count."""
    from lexnet.data.sources import load_data, source_from_arg
    from lexnet.data.synth import SynthConfig, generate

    source = source_from_arg(options.data) if options.data is not None else checkpoint.training.get("data")
    if not isinstance(source, dict) or not source.get("kind"):
        logger.warning("the checkpoint records no data source; calibrating and validating on synthetic flows")
        config = SynthConfig(num_classes=checkpoint.config.num_classes, spec=checkpoint.config.input)
        source = {"kind": "synth", "config": config.to_dict()}
    if source.get("kind") != "synth":
        splits = load_data(source)
        return splits["train"], splits["test"], f"data source {source}"
    # Only as many flows as export uses: the splits come from separate random streams of the same synthetic
    # world (same seed, same applications), so the test flows are still held out.
    config = SynthConfig.from_dict(source.get("config", {}))
    config = config.replace(train_flows=options.calibration_flows, test_flows=options.validation_flows)
    splits = generate(config)
    return splits["train"], splits["test"], f"synthetic flows, seed {config.seed}"


def _ort_session_runner(path: Path, threads: int | None) -> Callable[[np.ndarray], Outputs]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    input_name = session.get_inputs()[0].name

    def run(inputs: np.ndarray) -> Outputs:
        return Outputs(*session.run(names, {input_name: inputs}))

    return run


def _build_onnxruntime(ctx: _Context, out_dir: Path, *, precision: str) -> _Built:
    out = out_dir / "model.onnx"
    quantization = None
    if precision == "fp32":
        shutil.copy(ctx.fp32_onnx.path, out)
    elif precision == "int8":
        from lexnet.export.quantize import ORT_QUANTIZATION_METHOD

        shutil.copy(ctx.int8_onnx(), out)
        quantization = _quantization(ctx, ORT_QUANTIZATION_METHOD)
    else:
        raise NotImplementedError(
            f"onnxruntime artifacts exist in {BACKEND_PRECISIONS['onnxruntime']}, not {precision}"
        )
    run = _ort_session_runner(out, ctx.options.threads)
    return _Built([out], run, batch_size=1024, quantization=quantization, opset=ctx.fp32_onnx.opset)


def _quantization(ctx: _Context, method: str) -> QuantizationInfo:
    head = "int8" if ctx.options.quantize_head else "fp32"
    return QuantizationInfo(method=method, head=head, calibration_flows=len(ctx.calibration))


def _openvino_head_layout(precision: str) -> str:
    """OpenVINO runs ArgMin over a short contiguous axis slowly, so its head is positions-first; but under a bf16
    hint the CPU plugin turns that layout's distance product into a FullyConnected that ignores the head's
    keep-in-f32 mark, and the positions drift (86% agreement), so bf16 keeps the prototypes-first head."""
    return DEFAULT_HEAD_LAYOUT if precision == "bf16" else "positions-first"


def _build_openvino(ctx: _Context, out_dir: Path, *, precision: str) -> _Built:
    from lexnet.export import openvino as ovx

    xml = out_dir / "model.xml"
    hints = ovx.hints_for(precision)
    quantization = None
    if precision == "int8":
        inputs = ctx.inputs(ctx.calibration)
        files = ovx.quantize_ir(
            ctx.onnx_with_head(_openvino_head_layout(precision)),
            xml,
            inputs,
            batch_size=128,
            quantize_head=ctx.options.quantize_head,
        )
        quantization = _quantization(ctx, ovx.NNCF_METHOD)
    else:
        source = ctx.onnx_with_head(_openvino_head_layout(precision))
        files = ovx.convert_to_ir(source, xml, keep_head_fp32=not ctx.options.quantize_head)
    if precision == "bf16":
        head = "bf16" if ctx.options.quantize_head else "fp32"
        quantization = QuantizationInfo(method=ovx.BF16_METHOD, head=head, calibration_flows=0)
    batch_size = 256
    run = ovx.compile_ir(xml, hints, batch_size, ctx.options.threads)
    return _Built(files, run, batch_size, hints=hints, quantization=quantization)


def _build_tvm(ctx: _Context, out_dir: Path, *, precision: str, target_spec: str) -> _Built:
    from lexnet.export import tvm as tvmx

    target = tvmx.resolve_target(target_spec)
    if precision == "fp32":
        source, quantization = ctx.fp32_onnx.path, None
    elif precision == "int8":
        from lexnet.export.quantize import ORT_QUANTIZATION_METHOD

        source, quantization = ctx.int8_onnx(), _quantization(ctx, ORT_QUANTIZATION_METHOD)
    else:
        raise NotImplementedError(f"TVM artifacts exist in {BACKEND_PRECISIONS['tvm']}, not {precision}")
    trials = ctx.options.tune_trials if target.runnable else 0
    if ctx.options.tune_trials and not target.runnable:
        logger.warning("%s: this host cannot run it, so it is built untuned", target.label)
    batch = ctx.options.tvm_batch
    built = tvmx.build_library(source, out_dir, target, batch_size=batch, tune_trials=trials)
    tuning = TuningInfo(
        state=built.tuning_state,
        trials=built.trials,
        records=[p.relative_to(ctx.stage).as_posix() for p in built.records],
        seconds=round(built.tuning_seconds, 3),
    )
    run = tvmx.load_library(built.library, batch, target.device) if target.runnable else None
    return _Built(
        [built.library, *built.records],
        run,
        batch,
        target=target.target,
        hints={"batch_size": batch},
        tuning=tuning,
        quantization=quantization,
    )


@dataclass(frozen=True)
class _Plan:
    id: str
    backend: str
    precision: str
    device: str
    build: Callable[[_Context, Path], _Built]


def _plans(options: ExportOptions) -> tuple[list[_Plan], list[ArtifactResult]]:
    """The artifacts to build, and the requested combinations that cannot be (with the reason)."""
    plans: list[_Plan] = []
    skipped: list[ArtifactResult] = []
    for backend in options.backends:
        for precision in options.precisions:
            if precision not in BACKEND_PRECISIONS[backend]:
                reason = f"{backend} has no {precision} artifact (it builds {', '.join(BACKEND_PRECISIONS[backend])})"
                skipped.append(ArtifactResult(f"{backend}-{precision}", "skipped", reason=reason))
                continue
            if backend == "onnxruntime":
                build = functools.partial(_build_onnxruntime, precision=precision)
                plans.append(_Plan(f"onnxruntime-{precision}-cpu", backend, precision, "cpu", build))
            elif backend == "openvino":
                build = functools.partial(_build_openvino, precision=precision)
                plans.append(_Plan(f"openvino-{precision}-cpu", backend, precision, "cpu", build))
            else:
                plans.extend(_tvm_plans(precision, options.targets, skipped))
    return plans, skipped


def _tvm_plans(precision: str, targets: tuple[str, ...], skipped: list[ArtifactResult]) -> list[_Plan]:
    from lexnet.export import tvm as tvmx

    plans = []
    for spec in targets:
        try:
            target = tvmx.resolve_target(spec)
        except NotImplementedError as error:
            logger.warning("skipping TVM target %s: %s", spec, error)
            skipped.append(ArtifactResult(f"tvm-{precision}-{spec}", "skipped", reason=str(error)))
            continue
        build = functools.partial(_build_tvm, precision=precision, target_spec=spec)
        plans.append(_Plan(f"tvm-{precision}-{target.label}", "tvm", precision, target.device, build))
    return plans


def _validate(ctx: _Context, plan: _Plan, built: _Built) -> ValidationInfo | None:
    """Agreement with the PyTorch FP32 reference on the held-out flows (``None``: cannot run here)."""
    if built.run is None:
        return None
    outputs = run_batched(built.run, ctx.inputs(ctx.reference.raw), built.batch_size)
    return compare(ctx.reference, outputs, PRECISION_TOLERANCES[plan.precision])


def _build_artifact(ctx: _Context, plan: _Plan) -> tuple[ArtifactEntry | None, ArtifactResult]:
    out_dir = ctx.stage / "artifacts" / plan.id
    out_dir.mkdir(parents=True)
    start = time.perf_counter()
    try:
        built = plan.build(ctx, out_dir)
    except NotImplementedError as error:
        shutil.rmtree(out_dir)
        logger.warning("%s: not built: %s", plan.id, error)
        return None, ArtifactResult(plan.id, "skipped", reason=str(error))
    tuning_seconds = built.tuning.seconds if built.tuning else 0.0
    build_seconds = time.perf_counter() - start - tuning_seconds
    validation = _validate(ctx, plan, built)
    status = "ok" if validation is None or validation.passed else "failed"
    files = [file_entry(ctx.stage, path) for path in built.files]
    entry = ArtifactEntry(
        id=plan.id,
        backend=plan.backend,
        precision=plan.precision,
        device=plan.device,
        files=files,
        target=built.target,
        opset=built.opset,
        tools=host.tool_versions(plan.backend),
        host=host.host_info(),
        hints=built.hints,
        tuning=built.tuning or TuningInfo(state="not_applicable"),
        quantization=built.quantization,
        validation=validation,
        status=status,
        error=None if status == "ok" else "failed validation against the FP32 reference",
        build_seconds=round(build_seconds, 3),
    )
    result = ArtifactResult(plan.id, status, sum(f.size or 0 for f in files), build_seconds, tuning_seconds, validation)
    _log_artifact(entry, result)
    if validation is not None and status == "failed" and not ctx.options.keep_failed:
        raise ValidationError(plan.id, validation, PRECISION_TOLERANCES[plan.precision])
    return entry, result


def _log_artifact(entry: ArtifactEntry, result: ArtifactResult) -> None:
    v = entry.validation
    check = "not validated (this host cannot run it)" if v is None else (
        f"{'passed' if v.passed else 'FAILED'}: predictions {v.prediction_agreement:.2%}, positions"
        f" {v.position_agreement:.2%}, max |d logits| {v.max_abs_logits:.2g} on {v.flows} flows"
    )  # fmt: skip
    names = ", ".join(Path(f.path).name for f in entry.files)
    logger.info(
        "%s: %s (%.1f kB), built in %.1f s%s; %s",
        entry.id,
        names,
        result.size / 1e3,
        result.build_seconds,
        f" + {result.tuning_seconds:.0f} s tuning" if result.tuning_seconds else "",
        check,
    )


def _golden(ctx: _Context) -> GoldenInfo:
    reference = ctx.reference.subset(ctx.options.golden_flows)
    stage = ctx.stage
    outputs = reference.outputs
    entries: dict[str, FileEntry] = {
        "inputs": save_array(stage, "golden/inputs.npy", reference.raw.astype(np.int16)),
        "logits": save_array(stage, "golden/logits.npy", outputs.logits.astype(np.float32)),
    }
    if outputs.similarities is not None and outputs.positions is not None and reference.min_distances is not None:
        entries["similarities"] = save_array(stage, "golden/similarities.npy", outputs.similarities.astype(np.float32))
        entries["positions"] = save_array(stage, "golden/positions.npy", outputs.positions.astype(np.int64))
        entries["min_distances"] = save_array(stage, "golden/min_distances.npy", reference.min_distances)
    tolerances = {name: vars(tolerance) for name, tolerance in PRECISION_TOLERANCES.items()}
    return GoldenInfo(**entries, tolerances=tolerances)


def _prototypes(ctx: _Context, model: Any) -> PrototypesInfo:
    weights = model.last_layer.weight.detach().cpu().numpy().T.astype(np.float32)  # [P, C]
    return PrototypesInfo(
        classes=[int(c) for c in ctx.checkpoint.config.prototype_classes()],
        sources=[s.to_dict() for s in ctx.checkpoint.prototype_sources],
        last_layer=save_array(ctx.stage, "model/last_layer.npy", weights),
    )


def _checkpoint_sha256(path: Path | None) -> str | None:
    if path is None:
        return None
    weights = path / "weights.safetensors"
    return sha256_file(weights) if weights.is_file() else None


def _manifest(ctx: _Context, artifacts: list[ArtifactEntry], checkpoint_path: Path | None) -> Manifest:
    from lexnet import __version__
    from lexnet.models import count_parameters, is_prototype_model

    checkpoint = ctx.checkpoint
    model = checkpoint.build_model("cpu")
    prototype = is_prototype_model(model)
    spec = checkpoint.config.input
    name = ctx.fp32_onnx.input_name
    shape: list[Any] = ["batch", spec.packets] if ctx.options.input_mode == "raw" else ["batch", *spec.shape]
    return Manifest(
        format_version=FORMAT_VERSION,
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        lexnet_version=__version__,
        model=ModelInfo(
            arch=checkpoint.config.arch,
            config=checkpoint.config.to_dict(),
            trainable_parameters=count_parameters(model),
            is_prototype_model=prototype,
            checkpoint_sha256=_checkpoint_sha256(checkpoint_path),
        ),
        classes=[ClassEntry(name=c.name, transport=c.transport) for c in checkpoint.classes],
        input=InputInfo(
            mode=ctx.options.input_mode,
            name=name,
            dtype="int16" if ctx.options.input_mode == "raw" else "float32",
            shape=shape,
            spec=spec.to_dict(),
            scaling=checkpoint.scaling.to_dict(),
        ),
        outputs=list(ctx.fp32_onnx.outputs),
        golden=_golden(ctx),
        artifacts=artifacts,
        prototypes=_prototypes(ctx, model) if prototype else None,
    )


def export_bundle(
    checkpoint: Checkpoint,
    out: str | os.PathLike[str],
    options: ExportOptions | None = None,
    *,
    checkpoint_path: str | os.PathLike[str] | None = None,
) -> ExportResult:
    """Build and validate every requested artifact of ``checkpoint`` and write the bundle to ``out``.

    Example:
        >>> result = export_bundle(load_checkpoint("ckpt"), "bundle", ExportOptions(backends=("onnxruntime",)))
        >>> [a.id for a in result.manifest.artifacts]
        ['onnxruntime-fp32-cpu', 'onnxruntime-int8-cpu']

    Raises:
        ValidationError: an artifact fell short of its tolerance (unless ``options.keep_failed``); nothing is
            written then, and an existing bundle at ``out`` stays as it was.
    """
    options = options or ExportOptions()
    out = Path(out)
    plans, skipped = _plans(options)
    calibration, held_out = _load_flows(checkpoint, options)
    reference = reference_outputs(checkpoint, held_out)
    with staged_directory(out) as stage, tempfile.TemporaryDirectory(prefix="lexnet-export-") as work:
        fp32 = export_onnx(checkpoint, Path(work) / "model.onnx", options.input_mode, options.opset)
        ctx = _Context(checkpoint, options, stage, Path(work), fp32, reference, calibration)
        entries, results = [], []
        for plan in _progress(plans, options.progress):
            entry, result = _build_artifact(ctx, plan)
            results.append(result)
            if entry is not None:
                entries.append(entry)
        manifest = _manifest(ctx, entries, Path(checkpoint_path) if checkpoint_path else None)
        write_manifest(stage, manifest)
    logger.info("wrote bundle %s: %d artifacts", out, len(entries))
    tar = pack_tar(out) if options.tar else None
    return ExportResult(out, manifest, results + skipped, tar)


def _progress(plans: list[_Plan], enabled: bool) -> Any:
    if not enabled:
        return plans
    from tqdm.auto import tqdm

    return tqdm(plans, desc="artifacts", unit="artifact")


def with_defaults(options: ExportOptions, **changes: Any) -> ExportOptions:
    """``options`` with some fields replaced (for callers holding a frozen options object)."""
    return replace(options, **changes)
