"""``lexnet train`` and ``lexnet eval``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from lexnet.errors import DataFormatError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's subcommands."""
    _register_train(subparsers)
    _register_eval(subparsers)


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    from lexnet.models import list_models

    parser = subparsers.add_parser(
        "train",
        help="train a model of the zoo and write a checkpoint",
        description="Train a model with the paper's recipe (prototype models: warm-up, joint training, prototype"
        " projection, last layer; others: cross-entropy) and write a checkpoint directory. Under torchrun"
        " (torchrun --nproc_per_node N -m lexnet.cli train ...) the processes share the work.",
    )
    parser.add_argument("--arch", default="lexnet", choices=list_models(), help="model to train (default: lexnet)")
    parser.add_argument(
        "--data",
        required=True,
        help="'synth', 'synth:NAME=VALUE,...' (SynthConfig numbers, e.g. train_flows=30000) or a data directory",
    )
    parser.add_argument("--out", required=True, type=Path, help="checkpoint directory to write")
    parser.add_argument(
        "--recipe",
        default="paper",
        choices=("paper", "short"),
        help="paper: 1000 epochs, batch 1024; short: ours, 30 epochs, batch 256 (default: paper)",
    )
    parser.add_argument("--epochs", type=int, help="override the recipe's epoch count")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and shuffling (default: 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--resume", action="store_true", help="continue the unfinished run in --out")
    parser.add_argument("--workers", type=int, default=0, help="data-loading worker processes (default: 0)")
    parser.add_argument("--threads", type=int, help="torch CPU threads per process (default: torch's choice)")
    parser.set_defaults(handler=_train)


def _register_eval(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="accuracy of a checkpoint, per class, and its most frequent confusions",
        description="Evaluate a checkpoint on a split: overall and per-class accuracy and the most frequent"
        " confusions, as a table (and as JSON with --json).",
    )
    parser.add_argument("checkpoint", type=Path, help="checkpoint directory")
    parser.add_argument("--data", help="'synth' or a data directory (default: the data the checkpoint was trained on)")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--plot", type=Path, help="also draw per-class accuracy into this image file")
    parser.add_argument("--top", type=int, default=10, help="confusions to list (default: 10)")
    parser.add_argument("--batch-size", type=int, default=1024, help="flows per forward pass (default: 1024)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.set_defaults(handler=_eval)


def _load_data(source: dict[str, Any]) -> dict[str, Any]:
    from lexnet.data.sources import load_data

    return load_data(source)


def _train(args: argparse.Namespace) -> int:
    import torch

    from lexnet.data.sources import source_from_arg
    from lexnet.train import RECIPES, DistributedContext, TrainOptions, train

    if args.threads:
        torch.set_num_threads(args.threads)
    changes = {"seed": args.seed}
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    try:
        config = RECIPES[args.recipe].replace(**changes)
    except ValueError as error:
        raise DataFormatError(f"bad training option: {error}") from error
    source = source_from_arg(args.data)
    splits = _load_data(source)
    if "train" not in splits:
        raise DataFormatError(f"{args.data}: no training split")
    options = TrainOptions(
        device=args.device,
        resume=args.resume,
        progress=not args.no_progress,
        workers=args.workers,
        data_source=source,
        distributed=DistributedContext.from_env(os.environ),
    )
    checkpoint = train(args.arch, splits["train"], splits.get("test"), args.out, config, options)
    if checkpoint is not None:
        accuracy = checkpoint.metrics.get("test_accuracy")
        shown = "n/a (no test split)" if accuracy is None else f"{accuracy:.4f}"
        print(f"{args.out}: {args.arch}, test accuracy {shown}, {checkpoint.training['wall_seconds']} s")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from lexnet.checkpoint import load_checkpoint
    from lexnet.data.sources import source_from_arg
    from lexnet.evaluate import evaluate_checkpoint

    checkpoint = load_checkpoint(args.checkpoint, device=args.device)
    source = source_from_arg(args.data) if args.data else checkpoint.training.get("data")
    if not source:
        raise DataFormatError(f"{args.checkpoint} does not record its data; pass --data")
    if source.get("kind") == "dir" and args.split not in source.get("splits", ()):
        source = {**source, "splits": [*source.get("splits", ()), args.split]}
    splits = _load_data(source)
    if args.split not in splits:
        raise DataFormatError(f"split {args.split!r} not found; available: {', '.join(sorted(splits))}")
    data = splits[args.split]
    report = evaluate_checkpoint(checkpoint, data, args.batch_size, args.device, args.top)
    _print_report(report, f"{args.checkpoint} on {data.source}")
    if args.json:
        payload = {
            "checkpoint": str(args.checkpoint),
            "arch": checkpoint.config.arch,
            "split": args.split,
            "data": source,
            **report.to_dict(),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1) + "\n")
    if args.plot:
        from lexnet.explain.plots import plot_per_class_accuracy

        plot_per_class_accuracy(report.per_class, report.counts, args.plot)
    return 0


def _print_report(report: Any, title: str) -> None:
    print(f"{title}: accuracy {report.accuracy:.4f} on {report.flows} flows")
    width = max([len("class"), *map(len, report.per_class)])
    print(f"\n{'class':<{width}}  {'flows':>7}  {'accuracy':>8}")
    for name in sorted(report.per_class, key=lambda n: (-report.counts[n], n)):
        print(f"{name:<{width}}  {report.counts[name]:>7}  {report.per_class[name]:>8.4f}")
    if report.confusions:
        print("\nmost frequent confusions (true -> predicted: flows)")
        for true, predicted, flows in report.confusions:
            print(f"  {true} -> {predicted}: {flows}")
