"""``lexnet data`` subcommands: write synthetic flows, or flows read from packet captures, in the on-disk format."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from lexnet.data._select import keep_classes, split_by_group
from lexnet.data.format import FlowDataset, read_dataset, write_dataset
from lexnet.data.pcap import ENGINES, LabelMap, find_captures, ndpi_result_labels, read_captures
from lexnet.data.synth import SynthConfig, generate, mix_summary
from lexnet.errors import DataFormatError
from lexnet.spec import InputSpec


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's subcommands."""
    parser = subparsers.add_parser("data", help="make flow data sets (synthetic traffic, packet captures)")
    commands = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    commands.required = True
    _register_synth(commands)
    _register_pcap(commands)
    _register_split(commands)


def _register_synth(commands: argparse._SubParsersAction) -> None:
    defaults = SynthConfig()
    parser = commands.add_parser(
        "synth",
        help="generate synthetic traffic with the paper's class mix",
        description="Generate train and test splits of synthetic flows (Table 2's class mix) into DIR.",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write (created if missing)")
    parser.add_argument("--classes", type=int, default=defaults.num_classes, help="number of applications")
    parser.add_argument("--train-flows", type=int, default=defaults.train_flows, help="flows in the train split")
    parser.add_argument("--test-flows", type=int, default=defaults.test_flows, help="flows in the test split")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (same seed, same flows)")
    parser.set_defaults(handler=_synth)


def _print_summary(splits: dict[str, FlowDataset]) -> None:
    for split, data in splits.items():
        mix = mix_summary(data)
        tops = ", ".join(f"top {k} {share:.1%}" for k, share in mix["top_shares"].items())
        print(
            f"{split}: {mix['flows']} flows, {mix['classes']} classes ({mix['tcp_classes']} TCP); {tops};"
            f" TCP flows {mix['tcp_share']:.1%}"
        )


def _synth(args: argparse.Namespace) -> int:
    try:
        config = SynthConfig(
            num_classes=args.classes, train_flows=args.train_flows, test_flows=args.test_flows, seed=args.seed
        )
    except ValueError as error:
        raise DataFormatError(str(error)) from error
    started, cpu_started = time.perf_counter(), time.process_time()
    splits = generate(config)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    write_dataset(args.out, splits, config.spec)
    _print_summary(splits)
    flows = config.train_flows + config.test_flows
    print(
        f"generated {flows} flows in {seconds:.2f} s ({flows / max(seconds, 1e-9):,.0f} flows/s;"
        f" {cpu_seconds:.2f} s of CPU time, {flows / max(cpu_seconds, 1e-9):,.0f} flows per CPU second);"
        f" wrote {args.out}"
    )
    return 0


def _add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write (created if missing)")
    parser.add_argument("--drop-label", action="append", default=[], metavar="LABEL", help="drop flows so labelled")
    parser.add_argument("--min-class-flows", type=int, default=1, help="keep classes with at least N flows")
    parser.add_argument("--min-class-captures", type=int, default=1, help="keep classes seen in at least N captures")
    parser.add_argument(
        "--split-by-group", type=float, metavar="FRACTION", help="write train/test with about FRACTION of each"
        " class's flows in test, whole capture files on one side"
    )  # fmt: skip
    parser.add_argument("--split", default="all", help="split name when not splitting (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split by capture")


def _register_pcap(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "pcap",
        help="read flows from packet captures (pcap, pcapng)",
        description=(
            "Read the first packets of every TCP/UDP flow in the captures (files or directories) into DIR. Labels:"
            " nDPI's through nfstream, or --labels/--ndpi-results, else 'unknown'. Groups are capture files;"
            " captures.json lists them. Without --split-by-group everything goes to one split (--split)."
        ),
    )
    parser.add_argument("captures", nargs="+", metavar="PCAP", help="capture files or directories of captures")
    parser.add_argument("--mtu", type=int, default=InputSpec().mtu, help="clip sizes to this many bytes")
    parser.add_argument("--labels", metavar="MAPPING.json", help="label mapping file (see lexnet.data.pcap)")
    parser.add_argument("--ndpi-results", metavar="DIR", help="labels from nDPI's NAME.out result files in DIR")
    parser.add_argument("--min-packets", type=int, default=3, help="drop flows with fewer packets")
    parser.add_argument("--engine", choices=ENGINES, default="auto", help="flow reader (auto: nfstream if installed)")
    parser.add_argument(
        "--skip-handshake", action="store_true", help="start TCP flows after the three-way handshake, as synthetic"
        " flows do"
    )  # fmt: skip
    _add_selection_arguments(parser)
    parser.set_defaults(handler=_pcap)


def _register_split(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "split",
        help="select classes and split a flow directory by capture",
        description=(
            "Read splits of a flow directory (with groups), keep the classes asked for, and write them to DIR,"
            " split by capture with --split-by-group. Re-splits what 'lexnet data pcap' wrote without reading"
            " the captures again."
        ),
    )
    parser.add_argument("source", metavar="SOURCE", help="flow directory")
    parser.add_argument("--splits", nargs="+", default=["all"], help="splits of SOURCE to read (default: all)")
    _add_selection_arguments(parser)
    parser.set_defaults(handler=_split)


def _labeller(args: argparse.Namespace) -> LabelMap | None:
    if args.labels and args.ndpi_results:
        raise DataFormatError("give --labels or --ndpi-results, not both")
    if args.labels:
        return LabelMap.load(args.labels)
    return ndpi_result_labels(args.ndpi_results) if args.ndpi_results else None


def _check_selection(args: argparse.Namespace) -> None:
    if args.split_by_group is not None and not 0 < args.split_by_group < 1:
        raise DataFormatError(f"--split-by-group takes a fraction in (0, 1), got {args.split_by_group}")


def _select_and_write(data: FlowDataset, args: argparse.Namespace, captures: list[str]) -> FlowDataset:
    """Keep the classes asked for, split by capture if asked, write, and print one line per split."""
    data = keep_classes(data, args.min_class_flows, args.min_class_captures, tuple(args.drop_label))
    if not len(data):
        raise DataFormatError("no flows left after --min-class-flows, --min-class-captures and --drop-label")
    splits = split_by_group(data, args.split_by_group, args.seed) if args.split_by_group else {args.split: data}
    write_dataset(args.out, splits)
    if captures:
        (Path(args.out) / "captures.json").write_text(json.dumps(captures, indent=1) + "\n")
    for split, part in splits.items():
        present = np.unique(part.y)
        print(
            f"{split}: {len(part)} flows, {len(present)} of {len(part.classes)} classes,"
            f" {len(np.unique(np.asarray(part.groups)))} captures"
        )
    if len(splits) == 2:
        both = np.intersect1d(np.unique(splits["train"].y), np.unique(splits["test"].y))
        print(f"classes in both train and test: {len(both)}")
    return data


def _pcap(args: argparse.Namespace) -> int:
    if args.mtu < 1 or args.min_packets < 1:
        raise DataFormatError(f"--mtu and --min-packets must be positive, got {args.mtu} and {args.min_packets}")
    _check_selection(args)
    started = time.perf_counter()
    captures = find_captures(args.captures)
    data = read_captures(
        captures,
        labeller=_labeller(args),
        mtu=args.mtu,
        engine=args.engine,
        min_packets=args.min_packets,
        skip_handshake=args.skip_handshake,
    )
    counts = np.bincount(data.y, minlength=len(data.classes))
    print(
        f"read {len(data)} flows with at least {args.min_packets} packets from {len(captures)} captures:"
        f" {len(data.classes)} labels, {int((counts >= 10).sum())} with >= 10 flows"
    )
    data = _select_and_write(data, args, [str(p) for p in captures])
    seconds = time.perf_counter() - started
    print(f"kept {len(data)} flows in {len(data.classes)} classes; wrote {args.out} in {seconds:.1f} s")
    return 0


def _split(args: argparse.Namespace) -> int:
    _check_selection(args)
    parts = list(read_dataset(args.source, tuple(args.splits)).values())
    if any(part.groups is None for part in parts):
        raise DataFormatError(f"{args.source}: every split needs {{split}}_groups.npy to be split by capture")
    data = FlowDataset(
        np.concatenate([p.x for p in parts]),
        np.concatenate([p.y for p in parts]),
        parts[0].classes,
        np.concatenate([p.groups for p in parts if p.groups is not None]),
    )
    captures_file = Path(args.source) / "captures.json"
    captures = json.loads(captures_file.read_text()) if captures_file.is_file() else []
    data = _select_and_write(data, args, captures)
    print(f"kept {len(data)} flows in {len(data.classes)} classes; wrote {args.out}")
    return 0
