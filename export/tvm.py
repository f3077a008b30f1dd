"""TVM Relax shared libraries from the ONNX graph, optionally tuned with MetaSchedule.

Targets are JSON dicts (TVM 0.27 has no string shorthands worth relying on). Named targets: "native" (this
CPU, detected), "x86-64-avx2" (any x86-64 CPU with AVX2 and FMA) and "aarch64" (cross-compiled for ARM routers;
needs the aarch64 GNU toolchain), "cuda" (only when TVM was built with CUDA and a GPU is visible).

Libraries are built for a static batch (MetaSchedule tunes concrete shapes); the artifact's hints carry it
and the runtime pads smaller batches. Tuning records go into the bundle so a rebuild applies the same
schedules without tuning again (``build_library(..., records=...)``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lexnet.export._graph import OUTPUT_NAMES
from lexnet.export.validate import Outputs

__all__ = [
    "DEFAULT_TVM_BATCH",
    "NAMED_TARGETS",
    "TvmBuild",
    "TvmTarget",
    "build_library",
    "load_library",
    "resolve_target",
]

logger = logging.getLogger(__name__)

DEFAULT_TVM_BATCH = 64
AARCH64_CC = "aarch64-linux-gnu-gcc"
# MetaSchedule's builder workers spend 40-50 s importing tensor intrinsics before their first build; with the
# default 30 s timeout every candidate "fails". The build function below skips that import. Some candidates
# (large unrolls) keep LLVM busy for minutes: past this timeout they count as failed and tuning moves on, instead
# of one candidate eating a release benchmark's tuning budget.
BUILDER_TIMEOUT_S = 120.0
RECORD_FILES = ("database_workload.json", "database_tuning_record.json")


@dataclass(frozen=True)
class TvmTarget:
    """A resolved target.

    Attributes:
        label: short name used in artifact ids ("llvm-znver4", "llvm-aarch64", "cuda").
        target: the JSON dict given to ``tvm.target.Target``.
        device: "cpu" or "cuda".
        runnable: whether this host can run (and so validate and tune) the library.
        cross_compiler: the C compiler to link with when it is not the host's.
    """

    label: str
    target: dict[str, Any]
    device: str = "cpu"
    runnable: bool = True
    cross_compiler: str | None = None


def _num_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _native() -> TvmTarget:
    from lexnet.export.host import native_llvm_cpu

    cpu = native_llvm_cpu()
    return TvmTarget(f"llvm-{cpu}", {"kind": "llvm", "mcpu": cpu, "num-cores": _num_cores()})


def _x86_64_avx2() -> TvmTarget:
    from lexnet.export.host import cpu_flags

    runnable = {"avx2", "fma"} <= set(cpu_flags())
    target = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "x86-64-v3", "num-cores": _num_cores()}
    return TvmTarget("llvm-x86-64-v3", target, runnable=runnable and _host_arch() == "x86_64")


def _aarch64() -> TvmTarget:
    if shutil.which(AARCH64_CC) is None:
        raise NotImplementedError(
            f"target 'aarch64' needs the cross compiler {AARCH64_CC} (Debian/Ubuntu: apt-get install"
            " gcc-aarch64-linux-gnu); it is not on PATH"
        )
    target = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"], "num-cores": 4}
    return TvmTarget("llvm-aarch64", target, runnable=_host_arch() == "aarch64", cross_compiler=AARCH64_CC)


def _cuda() -> TvmTarget:
    import tvm

    if tvm.support.libinfo().get("USE_CUDA", "OFF") in ("OFF", "", None):
        raise NotImplementedError("target 'cuda' needs TVM built with CUDA; this TVM was built without it")
    if not tvm.cuda(0).exist:
        raise NotImplementedError("target 'cuda': TVM was built with CUDA but no CUDA GPU is visible")
    arch = tvm.cuda(0).compute_version.replace(".", "")
    return TvmTarget("cuda", {"kind": "cuda", "arch": f"sm_{arch}"}, device="cuda")


def _host_arch() -> str:
    import platform

    return platform.machine()


NAMED_TARGETS: dict[str, Callable[[], TvmTarget]] = {
    "native": _native,
    "x86-64-avx2": _x86_64_avx2,
    "aarch64": _aarch64,
    "cuda": _cuda,
}


def resolve_target(spec: str) -> TvmTarget:
    """A named target ("native", "x86-64-avx2", "aarch64", "cuda") or a JSON dict such as
    '{"kind": "llvm", "mcpu": "skylake-avx512"}'; raises ``NotImplementedError`` when it cannot be built here."""
    if spec in NAMED_TARGETS:
        return NAMED_TARGETS[spec]()
    try:
        target = json.loads(spec)
    except json.JSONDecodeError:
        raise ValueError(
            f"target {spec!r} is neither a named target ({', '.join(NAMED_TARGETS)}) nor a JSON dict"
        ) from None
    if not isinstance(target, dict) or "kind" not in target:
        raise ValueError(f"target {spec!r}: a JSON target needs a 'kind' (e.g. 'llvm')")
    if target["kind"] == "llvm" and "num-cores" not in target:
        target["num-cores"] = _num_cores()
    label = "-".join(str(target.get(k)) for k in ("kind", "mcpu") if target.get(k))
    host_triple = target.get("mtriple") in (None, f"{_host_arch()}-linux-gnu")
    return TvmTarget(label, target, device="cuda" if target["kind"] == "cuda" else "cpu", runnable=host_triple)


@dataclass
class TvmBuild:
    """What ``build_library`` produced."""

    library: Path
    records: list[Path] = field(default_factory=list)
    tuning_state: str = "untuned"
    trials: int = 0
    tuning_seconds: float = 0.0


def _build_without_intrinsics(mod: Any, target: Any, _params: Any) -> Any:
    """MetaSchedule's default build minus its import of tensor intrinsics (40-50 s per worker, unused here)."""
    from tvm.driver import build as tvm_build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm_build(mod, target=target)


def import_onnx(onnx_path: str | os.PathLike[str], batch_size: int) -> Any:
    """The ONNX graph as a Relax module with a static batch."""
    import onnx
    from tvm.relax.frontend.onnx import from_onnx

    model = onnx.load(str(onnx_path))
    graph_input = model.graph.input[0]
    dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim[1:]]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(graph_input.type.tensor_type.elem_type).name
    try:
        return from_onnx(
            model, shape_dict={graph_input.name: [batch_size, *dims]}, dtype_dict={graph_input.name: dtype}
        )
    except Exception as error:
        raise NotImplementedError(f"TVM's Relax ONNX frontend cannot import {onnx_path}: {error}") from error


def _fused(mod: Any, target: Any) -> Any:
    """The module as MetaSchedule's ``compile_relax`` prepares it (legalized, fused TIR), so that the tasks
    tuned here have the keys that compilation looks up."""
    import tvm
    from tvm import relax
    from tvm.relax import pipeline

    try:
        dispatch = pipeline.library_dispatch_passes(target)
    except (ValueError, AttributeError):
        dispatch = []
    passes = [
        *dispatch,
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
    ]
    with target, tvm.transform.PassContext(opt_level=3):
        return tvm.transform.Sequential(passes)(mod)


def _tune(mod: Any, target: Any, trials: int, work_dir: Path) -> Any:
    from tvm.s_tir import meta_schedule as ms

    fused = _fused(mod, target)
    tasks = ms.relax_integration.extract_tasks(fused, target)
    # The gradient scheduler spends ``num_trials_per_iter`` on one task per round: with a small budget and
    # the default of 64, the first task would take every trial. Spread the budget over all tasks instead.
    per_iter = max(1, min(64, -(-trials // max(1, len(tasks)))))
    builder = ms.builder.LocalBuilder(max_workers=1, timeout_sec=BUILDER_TIMEOUT_S, f_build=_build_without_intrinsics)
    runner = ms.runner.LocalRunner(evaluator_config=ms.runner.EvaluatorConfig(number=3, repeat=1))
    logger.debug("tuning %d tasks, %d trials, %d per round", len(tasks), trials, per_iter)
    return ms.relax_integration.tune_relax(
        fused,
        params={},
        target=target,
        work_dir=str(work_dir),
        max_trials_global=trials,
        num_trials_per_iter=per_iter,
        builder=builder,
        runner=runner,
        cost_model="xgb",
        seed=0,
    )


def _tune_into(mod: Any, target: Any, trials: int, records: Path, build: TvmBuild) -> Path | None:
    """Tune and copy MetaSchedule's records to ``records``; on a tuning failure, warn and return ``None``
    (the library is then built untuned and marked so)."""
    with tempfile.TemporaryDirectory(prefix="lexnet-tune-") as work:
        start = time.perf_counter()
        try:
            _tune(mod, target, trials, Path(work))
        except (RuntimeError, ValueError) as error:  # TVM 0.27 raises builtin error types from C++
            logger.warning("MetaSchedule tuning failed (%s); building untuned", str(error).splitlines()[0][:200])
            return None
        build.tuning_seconds = time.perf_counter() - start
        records.mkdir(exist_ok=True)
        for name in RECORD_FILES:
            shutil.copy(Path(work) / name, records / name)
    build.trials = trials
    return records


def _compile(mod: Any, target: Any, records_dir: Path | None) -> Any:
    import tvm
    from tvm.s_tir import meta_schedule as ms

    if records_dir is None:
        return tvm.compile(mod, target)
    database = ms.database.JSONDatabase(
        path_workload=str(records_dir / RECORD_FILES[0]), path_tuning_record=str(records_dir / RECORD_FILES[1])
    )
    return ms.relax_integration.compile_relax(database, mod, target, params=None)


def build_library(
    onnx_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    target: TvmTarget,
    *,
    batch_size: int = DEFAULT_TVM_BATCH,
    tune_trials: int = 0,
    records: Path | None = None,
) -> TvmBuild:
    """Compile the ONNX graph into ``out_dir/model.so`` for ``target``.

    Args:
        onnx_path: the graph (FP32, or INT8 in QDQ form).
        out_dir: the artifact's directory; tuning records go to ``out_dir/tuning``.
        target: from ``resolve_target``.
        batch_size: the library's static batch.
        tune_trials: MetaSchedule trials (0: no tuning); only for targets this host can run.
        records: existing tuning records (a directory with MetaSchedule's two JSON files) to rebuild from.
    """
    import tvm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mod = import_onnx(onnx_path, batch_size)
    tvm_target = tvm.target.Target(target.target)
    build = TvmBuild(library=out_dir / "model.so")
    if tune_trials > 0 and records is None:
        if not target.runnable:
            raise NotImplementedError(f"cannot tune for {target.label} on this {_host_arch()} host: it cannot run it")
        records = _tune_into(mod, tvm_target, tune_trials, out_dir / "tuning", build)
    if records is not None:
        build.records = [records / name for name in RECORD_FILES]
        build.tuning_state = "tuned"
    executable = _compile(mod, tvm_target, records)
    if target.cross_compiler:
        from tvm.support import cc

        executable.export_library(str(build.library), fcompile=cc.cross_compiler(target.cross_compiler))
    else:
        executable.export_library(str(build.library))
    return build


def load_library(path: str | os.PathLike[str], batch_size: int, device: str = "cpu") -> Callable[[np.ndarray], Outputs]:
    """A function running the library on batches of at most ``batch_size`` inputs (padded to that batch)."""
    import tvm
    from tvm import relax

    dev = tvm.cuda(0) if device == "cuda" else tvm.cpu(0)
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(path)), dev)
    main = vm["main"]

    def run(inputs: np.ndarray) -> Outputs:
        count = len(inputs)
        padded = np.zeros((batch_size, *inputs.shape[1:]), dtype=inputs.dtype)
        padded[:count] = inputs
        result = main(tvm.runtime.tensor(padded, dev))
        arrays = (
            [r.numpy()[:count] for r in result]
            if len(OUTPUT_NAMES) and not hasattr(result, "numpy")
            else [result.numpy()[:count]]
        )
        return Outputs(*arrays)

    return run
