"""``lexnet export``: a checkpoint -> a validated bundle of ONNX Runtime, OpenVINO and TVM artifacts."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from lexnet.errors import LexnetError

_EPILOG = """\
examples:
  lexnet export --out bundles/lexnet                       the default checkpoint, every backend and precision
  lexnet export runs/ckpt --out b --backends onnxruntime --precisions fp32,int8 --data data/appclassnet
  lexnet export runs/ckpt --out b --backends tvm --targets native,x86-64-avx2,aarch64 --tune-trials 200
  lexnet export runs/ckpt --out b --targets '{"kind": "llvm", "mcpu": "skylake-avx512"}' --tar
"""


class ExportError(LexnetError):
    """An artifact failed validation or a build step failed; nothing was written."""


def _csv(value: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _targets(value: str) -> tuple[str, ...]:
    """Comma-separated named targets, or one JSON dict (which contains commas itself)."""
    return (value.strip(),) if value.strip().startswith("{") else _csv(value)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lexnet export``."""
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint to a validated bundle (ONNX Runtime, OpenVINO, TVM; FP32, BF16, INT8)",
        description="Export a checkpoint to a bundle of ONNX Runtime, OpenVINO and TVM artifacts, each validated"
        " against the checkpoint's PyTorch FP32 outputs before it is written.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", nargs="?", type=Path, help="checkpoint directory (default: the shipped one)")
    parser.add_argument("--out", type=Path, required=True, help="bundle directory to write (replaced atomically)")
    parser.add_argument("--backends", type=_csv, default=("onnxruntime", "openvino", "tvm"),
                        help="comma-separated: onnxruntime, openvino, tvm (default: all)")  # fmt: skip
    parser.add_argument("--precisions", type=_csv, default=("fp32", "bf16", "int8"),
                        help="comma-separated: fp32, bf16, int8 (default: all; combinations a backend lacks are"
                        " listed as skipped)")  # fmt: skip
    parser.add_argument("--targets", type=_targets, default=("native",),
                        help="TVM targets: native, x86-64-avx2, aarch64, cuda, or one JSON target dict"
                        " (default: native)")  # fmt: skip
    parser.add_argument("--tune-trials", type=int, default=0, metavar="N",
                        help="MetaSchedule trials per TVM library (default 0: untuned, marked so)")  # fmt: skip
    parser.add_argument("--data", metavar="DIR|synth[:k=v,...]",
                        help="flows for INT8 calibration (train split) and validation (test split): a data set"
                        " directory or a synthetic source; default: the checkpoint's own data source")  # fmt: skip
    parser.add_argument("--quantize-head", action="store_true",
                        help="quantize the prototype head too (default: it stays FP32, positions exact)")  # fmt: skip
    parser.add_argument("--keep-failed", action="store_true",
                        help="keep artifacts that fail validation, marked failed, instead of failing")  # fmt: skip
    parser.add_argument("--tar", action="store_true", help="also pack the bundle into BUNDLE.tar")
    parser.add_argument("--input-mode", choices=("raw", "scaled"), default="raw",
                        help="graph input: raw int16 sizes (default) or the scaled 1 x packets x 2 map")  # fmt: skip
    parser.add_argument("--validation-flows", type=int, default=2000, metavar="N", help="held-out flows (2000)")
    parser.add_argument("--calibration-flows", type=int, default=1024, metavar="N", help="INT8 calibration flows")
    parser.add_argument("--tvm-batch", type=int, default=64, metavar="N", help="static batch of TVM libraries (64)")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="threads for validation runs")
    parser.set_defaults(handler=run_export)


def _format_table(results: list) -> str:
    header = ("artifact", "status", "size kB", "build s", "tuning s", "pred agree", "pos agree", "max |d logits|")
    rows = [header]
    for r in results:
        v = r.validation
        figures = ("-", "-", "-") if v is None else (
            f"{v.prediction_agreement:.4f}", f"{v.position_agreement:.4f}", f"{v.max_abs_logits:.3g}"
        )  # fmt: skip
        if r.status == "skipped":
            rows.append((r.id, "skipped", "-", "-", "-", "-", "-", r.reason[:60]))
            continue
        rows.append((r.id, r.status, f"{r.size / 1e3:.1f}", f"{r.build_seconds:.1f}", f"{r.tuning_seconds:.1f}",
                     *figures))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_export(args: argparse.Namespace) -> int:
    from lexnet.checkpoint import default_checkpoint_path, load_checkpoint
    from lexnet.export.build import ExportOptions, export_bundle
    from lexnet.export.validate import ValidationError

    path = args.checkpoint or default_checkpoint_path()
    if not path.exists():
        raise LexnetError(f"checkpoint {path} not found (the default checkpoint is not shipped yet: pass one)")
    try:
        options = ExportOptions(
            backends=args.backends,
            precisions=args.precisions,
            targets=args.targets,
            tune_trials=args.tune_trials,
            data=args.data,
            quantize_head=args.quantize_head,
            keep_failed=args.keep_failed,
            tar=args.tar,
            input_mode=args.input_mode,
            validation_flows=args.validation_flows,
            calibration_flows=args.calibration_flows,
            tvm_batch=args.tvm_batch,
            threads=args.threads,
            progress=not args.no_progress,
        )
    except ValueError as error:
        raise LexnetError(str(error)) from error
    # A terminated export must clean its staging directory up like any failure: turn SIGTERM into SystemExit.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        result = export_bundle(load_checkpoint(path), args.out, options, checkpoint_path=path)
    except ValidationError as error:
        raise ExportError(f"{error}; nothing written (use --keep-failed to keep it marked failed)") from error
    print(_format_table(result.artifacts))
    print(f"bundle: {result.bundle}" + (f" (tar: {result.tar})" if result.tar else ""))
    return 1 if any(r.status == "failed" for r in result.artifacts) else 0
