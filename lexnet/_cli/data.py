"""``lexnet data`` subcommands: write synthetic flows, or flows read from packet captures, in the on-disk format."""

from __future__ import annotations

import argparse
import time

from lexnet.data.format import FlowDataset, write_dataset
from lexnet.data.synth import SynthConfig, generate, mix_summary
from lexnet.errors import DataFormatError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's subcommands."""
    parser = subparsers.add_parser("data", help="make flow data sets (synthetic traffic, packet captures)")
    commands = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    commands.required = True
    _register_synth(commands)


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
    started = time.perf_counter()
    splits = generate(config)
    seconds = time.perf_counter() - started
    write_dataset(args.out, splits, config.spec)
    _print_summary(splits)
    flows = config.train_flows + config.test_flows
    print(f"generated {flows} flows in {seconds:.2f} s ({flows / max(seconds, 1e-9):,.0f} flows/s); wrote {args.out}")
    return 0
