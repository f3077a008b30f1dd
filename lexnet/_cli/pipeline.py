"""``lexnet run``: the main job on one checkpoint: export to every backend and precision this machine runs,
parity of every artifact against the reference, and the quick benchmark table."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path
from typing import Any

from lexnet.errors import LexnetError

logger = logging.getLogger(__name__)

# Each step needs these modules; a missing one ends the run naming the piece of the project that provides it.
_STEP_MODULES = {
    "export": ("lexnet.export.build", "the export step (lexnet.export: ONNX, INT8, OpenVINO IR, TVM, bundle)"),
    "parity": ("lexnet.runtimes.parity", "the parity step (lexnet.runtimes.parity)"),
    "bench": ("lexnet.bench.matrix", "the benchmark (lexnet.bench)"),
}


class PipelineError(LexnetError, RuntimeError):
    """A step of ``lexnet run`` cannot run or failed; the message names the step."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lexnet run``."""
    parser = subparsers.add_parser(
        "run",
        help="main job: default checkpoint -> bundle for every backend/precision here -> parity -> quick benchmark",
        description=(
            "Export the checkpoint (default: the packaged LEXNet) to every backend and precision this machine runs,"
            " check every artifact against the PyTorch reference, and benchmark the bundle. Prints each step's"
            " table and where the results were written. Exit code 1 if an artifact fails parity."
        ),
    )
    parser.add_argument("--checkpoint", type=Path, help="checkpoint directory (default: the packaged LEXNet)")
    parser.add_argument("--out", type=Path, default=Path("results/run"), help="output folder (default: results/run)")
    parser.add_argument("--backends", nargs="+", help="compiled backends (default: every one installed)")
    parser.add_argument(
        "--tune-trials",
        type=int,
        default=0,
        help="MetaSchedule trials for TVM (default: 0, untuned: tuning takes minutes)",
    )
    parser.add_argument("--parity-flows", type=int, default=2000, help="synthetic hold-out flows for parity")
    parser.add_argument("--bench-minutes", type=float, default=3.0, help="time budget of the benchmark step")
    parser.add_argument("--threads", type=int, default=None, help="threads for parity (default: all cores)")
    parser.set_defaults(handler=run_pipeline)


def _need(step: str) -> Any:
    module, piece = _STEP_MODULES[step]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise PipelineError(f"lexnet run cannot do its {step} step: {piece} is not installed ({error})") from error


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def step_checkpoint(path: Path | None) -> tuple[Any, Path]:
    from lexnet.checkpoint import default_checkpoint_path, load_checkpoint

    path = path or default_checkpoint_path()
    if not (path / "checkpoint.json").is_file():
        raise PipelineError(
            f"no checkpoint at {path}: the packaged default checkpoint (lexnet/assets/lexnet-default, from the"
            " training step) is missing; pass --checkpoint DIR"
        )
    checkpoint = load_checkpoint(path)
    from lexnet.bench.sources import checkpoint_accuracy

    accuracy, where = checkpoint_accuracy(checkpoint.metrics)
    print(f"== 1/4 checkpoint {path}")
    rows = [
        [checkpoint.config.arch, str(len(checkpoint.classes)), f"{accuracy:.4f}" if accuracy else "n/a", where or ""]
    ]
    print(_table(["arch", "classes", "accuracy", "from"], rows))
    return checkpoint, path


def step_export(checkpoint: Any, path: Path, out: Path, backends: list[str] | None, trials: int) -> Path:
    build = _need("export")
    from lexnet.runtimes import installed_backends

    chosen = tuple(backends or [b for b in build.BACKEND_PRECISIONS if b in installed_backends()])
    options = build.ExportOptions(
        backends=chosen, precisions=("fp32", "bf16", "int8"), tune_trials=trials, keep_failed=True, progress=True
    )
    print(f"\n== 2/4 export to {', '.join(chosen)} (fp32, bf16, int8 where each backend has it)")
    result = build.export_bundle(checkpoint, out / "bundle", options, checkpoint_path=path)
    rows = []
    for a in result.artifacts:
        v = a.validation
        agreement = f"{v.prediction_agreement:.4f}/{v.position_agreement:.4f}" if v is not None else ""
        rows.append([a.id, a.status, f"{a.size / 1e3:.0f} kB", f"{a.build_seconds:.1f}", agreement, a.reason])
    print(_table(["artifact", "status", "size", "build s", "agree pred/pos", "reason"], rows))
    print(f"bundle: {result.bundle}")
    return result.bundle


def step_parity(bundle_path: Path, checkpoint_path: Path, flows: int, threads: int | None) -> bool:
    parity = _need("parity")
    from lexnet.data.synth import SynthConfig, generate
    from lexnet.runtimes import Bundle

    print(f"\n== 3/4 parity against the PyTorch checkpoint (golden vectors + {flows} synthetic flows)")
    with Bundle(bundle_path) as bundle:
        config = SynthConfig(num_classes=len(bundle.class_names), train_flows=0, test_flows=flows, spec=bundle.spec)
        datasets = {"golden": bundle.golden()["inputs"], "synth": generate(config)["test"].x}
        results = parity.run_parity(bundle, datasets, reference="torch", checkpoint=checkpoint_path, threads=threads)
    print(parity.format_table(results))
    failed = [r for r in results if r.skipped is None and not r.passed]
    return not failed


def step_bench(
    bundle_path: Path, checkpoint_path: Path, out: Path, minutes: float, trials: int, no_progress: bool
) -> Path:
    _need("bench")
    from lexnet.bench import reports
    from lexnet.bench.harness import TimingPolicy
    from lexnet.bench.matrix import MatrixSpec, all_cores, run_matrix
    from lexnet.runtimes import open_bundle

    with open_bundle(bundle_path) as bundle:
        artifacts = [(a.backend, a.precision, a.tuning) for a in bundle.manifest.artifacts]
    backends = ["torch", *sorted({b for b, _, _ in artifacts if b != "tvm"})]
    if any(b == "tvm" for b, _, _ in artifacts):
        backends.append("tvm" if trials > 0 else "tvm-untuned")
    precisions = tuple(p for p in ("fp32", "bf16", "int8") if any(p == q for _, q, _ in artifacts))
    spec = MatrixSpec(
        models=("lexnet",),
        backends=tuple(backends),
        precisions=precisions,
        devices=("cpu",),
        batches=(1, 64, 1024),
        threads=(all_cores(),),
        policy=TimingPolicy(warmup=2, min_repetitions=3, budget_s=0.5),
        time_budget_s=60 * minutes,
        peak_budget_s=0.3,
        workdir=out / ".work",
        bundles={"lexnet": bundle_path},
        checkpoints={"lexnet": checkpoint_path},
    )
    print(f"\n== 4/4 quick benchmark: {', '.join(backends)} x {', '.join(precisions)}, batches 1/64/1024")
    if not no_progress:
        # The progress lines already say what each cell measured; the matrix's own INFO lines would repeat it.
        logging.getLogger("lexnet.bench.matrix").setLevel(logging.WARNING)
    result = run_matrix(spec, None if no_progress else _progress)
    folder = reports.results_dir(out / "bench")
    reports.write_reports(result, folder)
    print(reports.main_table(result))
    print()
    print(reports.ratios_table(result))
    return folder


def _progress(result: Any, done: int, total: int) -> None:
    status = f"{result.timing.median_us:.1f} µs/flow" if result.timing else f"{result.status} ({result.reason})"
    print(
        f"[{done}/{total}] {result.backend} {result.precision} b{result.batch} {result.api}: {status}", file=sys.stderr
    )


def run_pipeline(args: argparse.Namespace) -> int:
    checkpoint, path = step_checkpoint(args.checkpoint)
    bundle = step_export(checkpoint, path, args.out, args.backends, args.tune_trials)
    passed = step_parity(bundle, path, args.parity_flows, args.threads)
    folder = step_bench(bundle, path, args.out, args.bench_minutes, args.tune_trials, args.no_progress)
    print(f"\nbundle: {bundle}\nbenchmark reports: {folder}\nparity: {'all artifacts pass' if passed else 'FAILED'}")
    return 0 if passed else 1
