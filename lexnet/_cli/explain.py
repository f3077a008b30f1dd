"""``lexnet explain``, ``lexnet faithfulness`` and ``lexnet sweep``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lexnet.errors import CheckpointError, DataFormatError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's subcommands."""
    _register_explain(subparsers)
    _register_faithfulness(subparsers)
    _register_sweep(subparsers)


def _register_explain(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="why a flow was put in its class: the prototypes that matched, in a figure and in words",
        description="Classify flows and explain each one: where the predicted class's prototypes matched"
        " (packet, size or direction), the training flow each prototype came from, one sentence per prototype;"
        " optionally a figure per flow. A checkpoint runs with PyTorch, a bundle with lexnet.runtimes.",
    )
    parser.add_argument("model", type=Path, help="checkpoint directory or bundle directory")
    parser.add_argument(
        "input",
        type=Path,
        help="flows: a .npy of signed sizes ([N, packets] or one flow), a data set directory, or a CSV file"
        " (one flow per row)",
    )
    parser.add_argument("--out", type=Path, help="figure to write (PNG); with several flows, one per flow (_flowK)")
    parser.add_argument("--flow", type=int, nargs="+", default=[0], help="flow indices to explain (default: 0)")
    parser.add_argument("--split", default="test", help="split read from a data set directory (default: test)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="printed output (default: text)")
    parser.add_argument("--backend", default="onnxruntime", help="runtime for a bundle (default: onnxruntime)")
    parser.add_argument("--precision", default="fp32", help="bundle artifact precision (default: fp32)")
    parser.set_defaults(handler=_explain)


def _register_faithfulness(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "faithfulness",
        help="Table 6 (post-hoc methods vs LEXNet's prototypes), the deletion test and the cost of explaining",
        description="Explain test flows with LEXNet's prototypes, Grad-CAM (last convolution) and SHAP"
        " (captum's GradientShap, training flows as baselines), on LEXNet and optionally LEResNet. Prints the"
        " paper's Table 6 (share of flows whose prototype cells are all among a method's top-k cells), a"
        " deletion test (mean drop of the predicted class's probability when each method's top-k cells are"
        " set to 'no packet') and the time per flow of each method (Table 7's explanation rows).",
    )
    parser.add_argument("checkpoint", type=Path, help="LEXNet checkpoint directory")
    parser.add_argument("--leresnet", type=Path, help="LEResNet checkpoint, explained post hoc as in the paper")
    parser.add_argument("--data", help="'synth' or a data directory (default: the checkpoint's training data)")
    parser.add_argument("--split", default="test", help="split whose flows are explained (default: test)")
    parser.add_argument("--flows", type=int, default=1000, help="flows explained, sampled at random (default: 1000)")
    parser.add_argument("--shap-samples", type=int, default=32, help="GradientShap draws per flow (default: 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample, baselines and SHAP (default: 0)")
    parser.add_argument("--no-timing", action="store_true", help="skip the time-per-flow measurements")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, help="directory for faithfulness.json and the deletion curves (PNG)")
    parser.set_defaults(handler=_faithfulness)


def _register_sweep(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="accuracy vs number and size of prototypes (the paper's Figure 3), on a budget",
        description="Train one small LEXNet per (prototypes per class, prototype shape) with the short recipe cut"
        " to the budget given (epochs, training flows), and plot test accuracy against the number of prototypes,"
        " one line per shape.",
    )
    parser.add_argument("--data", default="synth", help="'synth' or a data directory (default: synth)")
    parser.add_argument("--prototypes", type=int, nargs="+", default=[1, 2, 3], help="prototypes per class")
    parser.add_argument("--shapes", nargs="+", default=["1x1", "2x1", "2x2"], help="prototype shapes, HxW")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per model (default: 6)")
    parser.add_argument("--max-flows", type=int, default=20000, help="training flows per model (default: 20000)")
    parser.add_argument("--batch-size", type=int, default=256, help="batch size (default: 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every model and of the flow sample")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, required=True, help="directory for sweep.json, the figure and models")
    parser.set_defaults(handler=_sweep)


def _load_splits(data: str | dict[str, Any] | None, where: str) -> dict[str, Any]:
    if not data:
        raise DataFormatError(f"{where} does not record its data; pass --data")
    try:
        from lexnet.data.sources import load_data, source_from_arg
    except ImportError:
        # Without the data-source registry: the default synthetic traffic, or a data directory.
        if data == "synth":
            from lexnet.data.synth import generate

            return generate()
        from lexnet.data.format import read_dataset

        directory = data if isinstance(data, str) else data.get("path", "")
        return read_dataset(directory, ("train", "test"))
    return load_data(source_from_arg(data) if isinstance(data, str) else data)


def _explain(args: argparse.Namespace) -> int:
    from lexnet.explain.describe import explain_flows, to_json, to_text
    from lexnet.explain.inputs import read_flows
    from lexnet.explain.predict import load_explained_model

    model = load_explained_model(args.model, args.backend, args.precision)
    raw = read_flows(args.input, model.config.input, args.split)
    bad = [k for k in args.flow if not 0 <= k < len(raw)]
    if bad:
        raise DataFormatError(f"{args.input}: flow indices {bad} out of range 0..{len(raw) - 1}")
    explanations = explain_flows(model, raw[args.flow], model.predict(raw[args.flow]))
    explanations = [e.__class__(**{**e.__dict__, "flow": k}) for e, k in zip(explanations, args.flow, strict=True)]
    print(to_json(explanations) if args.format == "json" else to_text(explanations))
    if args.out:
        from lexnet.explain.render import render_explanation

        for explanation in explanations:
            out = args.out
            if len(explanations) > 1:
                out = args.out.with_name(f"{args.out.stem}_flow{explanation.flow}{args.out.suffix or '.png'}")
            render_explanation(explanation, model.scaling, model.prototype_sources, out)
    return 0


def _print_timings(timings: dict[str, float]) -> None:
    from lexnet.explain.study import PAPER_TABLE7_US

    print("\nTime per flow (µs, this machine; the paper's figures beside, n/a where not retrieved)")
    print("| method | µs per flow (ours) | µs per flow (paper) |\n|---|---|---|")
    for name, value in timings.items():
        paper = PAPER_TABLE7_US.get(name)
        print(f"| {name} | {value:.1f} | {'n/a' if paper is None else f'{paper:g}'} |")


def _faithfulness(args: argparse.Namespace) -> int:
    import torch

    from lexnet.checkpoint import load_checkpoint
    from lexnet.explain.deletion import format_deletion_table
    from lexnet.explain.faithfulness import format_table
    from lexnet.explain.plots import plot_deletion_curve
    from lexnet.explain.study import PAPER_TABLE6, run_study

    if args.threads:
        torch.set_num_threads(args.threads)
    lexnet = load_checkpoint(args.checkpoint)
    leresnet = load_checkpoint(args.leresnet) if args.leresnet else None
    splits = _load_splits(args.data or lexnet.training.get("data"), str(args.checkpoint))
    if args.split not in splits:
        raise DataFormatError(f"split {args.split!r} not found; available: {', '.join(sorted(splits))}")
    try:
        result = run_study(
            lexnet,
            splits[args.split],
            splits.get("train"),
            leresnet,
            args.flows,
            args.shap_samples,
            seed=args.seed,
            timing=not args.no_timing,
        )
    except ValueError as error:
        raise CheckpointError(str(error)) from error
    print(f"Table 6: post-hoc top-k cells vs LEXNet's prototype positions, {result.flows} {args.split} flows")
    print(
        f"(flows whose {lexnet.config.prototypes_per_class} prototypes matched distinct cells:"
        f" {100 * result.distinct_cells:.1f}%)"
    )
    print(format_table(result.table6, PAPER_TABLE6))
    for name, deletion in result.deletion.items():
        print(f"\nDeletion test on {name}: mean drop of the predicted class's probability (flows whose class changed)")
        print(format_deletion_table(deletion))
    if result.microseconds_per_flow:
        _print_timings(result.microseconds_per_flow)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, deletion in result.deletion.items():
            plot_deletion_curve(deletion, args.out / f"deletion_{name.lower()}.png", name)
        payload = {
            "flows": result.flows,
            "table6": [row.__dict__ for row in result.table6],
            "deletion": {name: d.__dict__ for name, d in result.deletion.items()},
            "microseconds_per_flow": result.microseconds_per_flow,
        }
        (args.out / "faithfulness.json").write_text(json.dumps(payload, indent=1) + "\n")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    import torch

    from lexnet.explain.plots import plot_prototype_sweep
    from lexnet.explain.sweep import SweepBudget, parse_shape, run_sweep

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        shapes = [parse_shape(s) for s in args.shapes]
        budget = SweepBudget(epochs=args.epochs, max_flows=args.max_flows, batch_size=args.batch_size)
    except ValueError as error:
        raise DataFormatError(str(error)) from error
    splits = _load_splits(args.data, "--data")
    points = run_sweep(
        splits["train"],
        splits["test"],
        args.prototypes,
        shapes,
        budget,
        args.out,
        args.seed,
        progress=not args.no_progress,
    )
    print("| prototypes per class | shape | test accuracy | parameters | train s |\n|---|---|---|---|---|")
    for p in points:
        print(
            f"| {p.prototypes_per_class} | {p.prototype_shape[0]}x{p.prototype_shape[1]} | {p.accuracy:.4f}"
            f" | {p.parameters} | {p.seconds:.0f} |"
        )
    plot_prototype_sweep(points, args.out / "figure3.png")
    return 0
