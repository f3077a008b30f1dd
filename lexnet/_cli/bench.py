"""``lexnet bench``: the benchmark matrix, its compute floor and the paper-shaped reports."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lexnet.errors import LexnetError

# The release matrix fits in about this many minutes on 2 cores (``nox -s bench``).
RELEASE_MINUTES = 25.0
QUICK_MINUTES = 3.0


class BenchOptionError(LexnetError, ValueError):
    """A ``lexnet bench`` option names something that does not exist."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's subcommands."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark matrix: models x backends x precisions x batches x threads, with the compute floor",
        description=(
            "Time every model on every backend, precision, device, batch size and thread count with one in-process"
            " harness; measure the machine's peak in the same run; write Markdown tables shaped like the paper's"
            " Tables 3, 4, 5 and 7, CSV/JSON of every cell, pytest-benchmark JSON and plots into"
            " OUT/<date>-<host>/. Without --quick this is the release matrix (about 25 minutes on 2 cores)."
        ),
    )
    parser.add_argument("--quick", action="store_true", help="smoke run of a few minutes: LEXNet and LEResNet only")
    parser.add_argument("--models", nargs="+", metavar="ARCH", help="zoo models (default: Tables 3, 4 and 5)")
    parser.add_argument("--backends", nargs="+", metavar="NAME", help="torch onnxruntime openvino tvm tvm-untuned")
    parser.add_argument("--precisions", nargs="+", metavar="P", help="fp32 bf16 int8")
    parser.add_argument("--devices", nargs="+", metavar="D", help="cpu cuda (default: those present)")
    parser.add_argument("--batches", nargs="+", type=int, metavar="N", help="batch sizes (default: 1 64 1024)")
    parser.add_argument("--threads", nargs="+", metavar="T", help="thread counts, or 'all' (default: 1 all)")
    parser.add_argument("--budget", type=float, metavar="S", help="timing seconds per cell at most")
    parser.add_argument("--minutes", type=float, metavar="M", help="time budget of the whole run")
    parser.add_argument("--explainers", nargs="*", metavar="E", help="Table 7 post-hoc rows: gradcam shap")
    parser.add_argument("--assets", type=Path, metavar="DIR", help="checkpoints folder (default: lexnet/assets)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="results root (default: results/)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--tune-trials", type=int, default=32, help="MetaSchedule trials for tuned TVM (default: 32)")
    parser.add_argument(
        "--tuned-models", nargs="+", metavar="ARCH", help="models given a tuned TVM build (default: lexnet)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="MODEL.onnx",
        help="instead of the matrix: profile this raw-input ONNX model with ONNX Runtime and print where the time"
        " goes, per operator type and per node (batch: the largest of --batches; threads: the most of --threads)",
    )
    parser.set_defaults(handler=run_bench)


def _threads(values: list[str] | None, quick: bool) -> tuple[int, ...]:
    from lexnet.bench.matrix import all_cores

    cores = all_cores()
    values = values or (["all"] if quick else ["1", "all"])
    counts = []
    for value in values:
        if value == "all":
            counts.append(cores)
        elif value.isdigit() and int(value) > 0:
            counts.append(int(value))
        else:
            raise BenchOptionError(f"--threads takes positive integers or 'all', got {value!r}")
    return tuple(dict.fromkeys(counts))


def _check(kind: str, values: tuple[str, ...], known: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    unknown = [v for v in values if v not in known]
    if unknown:
        raise BenchOptionError(f"unknown {kind} {', '.join(unknown)}; known: {', '.join(known)}")
    return values


def build_spec(args: argparse.Namespace):
    """The matrix the options ask for: the release matrix, or the quick one with --quick."""
    from lexnet.bench import backends, paper
    from lexnet.bench.harness import TimingPolicy
    from lexnet.bench.matrix import MatrixSpec
    from lexnet.models import list_models

    quick = args.quick
    default_models = ("lexnet", "leresnet") if quick else paper.release_models()
    models = _check("model", tuple(dict.fromkeys(args.models or default_models)), list_models())
    default_backends = ("torch", "onnxruntime", "openvino") if quick else backends.BACKENDS
    chosen = _check("backend", tuple(args.backends or default_backends), backends.BACKENDS)
    precisions = _check(
        "precision", tuple(args.precisions or (("fp32", "int8") if quick else backends.PRECISIONS)), backends.PRECISIONS
    )
    devices = _check("device", tuple(args.devices or backends.available_devices()), backends.DEVICES)
    batches = tuple(args.batches or (1, 64, 1024))
    if any(b < 1 for b in batches):
        raise BenchOptionError(f"--batches must be positive, got {batches}")
    explainers = ((), ("gradcam", "shap"))[not quick] if args.explainers is None else tuple(args.explainers)
    _check("explainer", explainers, ("gradcam", "shap", "kernel-shap"))
    budget = args.budget if args.budget is not None else (0.25 if quick else 1.0)
    minutes = args.minutes if args.minutes is not None else (QUICK_MINUTES if quick else RELEASE_MINUTES)
    return MatrixSpec(
        models=models,
        backends=chosen,
        precisions=precisions,
        devices=devices,
        batches=batches,
        threads=_threads(args.threads, quick),
        policy=TimingPolicy(warmup=2 if quick else 3, min_repetitions=3 if quick else 5, budget_s=budget),
        time_budget_s=60.0 * minutes,
        peak_budget_s=0.3 if quick else 1.0,
        workdir=args.out / ".work",
        assets=args.assets,
        explainers=explainers,
        secondary_models=() if (quick or args.models) else _table3_extras(),
        tune_trials=args.tune_trials,
        tuned_models=tuple(args.tuned_models or ("lexnet",)),
    )


def _table3_extras() -> tuple[str, ...]:
    """Table 3's CNNs beyond the paper's own models: the release matrix times them in FP32 on torch/ONNX Runtime."""
    from lexnet.bench import paper

    core = set(paper.TABLE4_MODELS + paper.TABLE5_MODELS + paper.TABLE3_BASE_MODELS)
    return tuple(m for m in paper.table3_models() if m not in core)


def _progress(quiet: bool):
    def show(result, done: int, total: int) -> None:
        if quiet:
            return
        where = f"{result.model} {result.backend} {result.precision} {result.device} b{result.batch} t{result.threads}"
        where += " classify()" if result.api == "classify" else ""
        if result.timing is None:
            print(f"[{done}/{total}] {where}: {result.status} ({result.reason})", file=sys.stderr, flush=True)
            return
        ratio = f", {result.over_floor:.2f}x floor" if result.over_floor else ""
        print(f"[{done}/{total}] {where}: {result.timing.median_us:.1f} µs/flow{ratio}", file=sys.stderr, flush=True)

    return show


def run_profile(args: argparse.Namespace) -> int:
    from lexnet.bench.profile import profile_onnx
    from lexnet.bench.sources import synthetic_flows
    from lexnet.spec import InputSpec

    if not args.profile.is_file():
        raise BenchOptionError(f"--profile: {args.profile} is not a file")
    batch, threads = max(args.batches or [1024]), max(_threads(args.threads, quick=True))
    by_op, by_node = profile_onnx(args.profile, synthetic_flows(batch, InputSpec()), threads)
    print(f"{args.profile}: batch {batch}, {threads} thread(s), share of kernel time")
    for title, rows in (("operator type", by_op), ("node", by_node)):
        print(f"\n{'by ' + title:<64} {'share':>6} {'calls':>6}")
        for row in rows[:12]:
            print(f"{row.name[:64]:<64} {100 * row.share:5.1f}% {row.calls:6d}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from lexnet.bench import reports
    from lexnet.bench.matrix import plan, run_matrix

    if args.profile is not None:
        return run_profile(args)
    spec = build_spec(args)
    if not (args.no_progress or args.quiet):
        # The progress lines below already say what each cell measured; the matrix's own INFO lines would repeat it.
        logging.getLogger("lexnet.bench.matrix").setLevel(logging.WARNING)
    print(f"benchmark: {len(plan(spec))} cells, {len(spec.models)} models, budget {spec.time_budget_s / 60:.0f} min")
    result = run_matrix(spec, _progress(args.no_progress or args.quiet))
    folder = reports.results_dir(args.out)
    paths = reports.write_reports(result, folder, plots=not args.no_plots)
    for table in (reports.table3, reports.table4, reports.table5, reports.table7, reports.ratios_table):
        print()
        print(table(result))
    print()
    print(reports.main_table(result))
    print(f"\nresults written to {folder} ({paths['markdown'].name}, {paths['csv'].name}, {paths['json'].name})")
    return 0
