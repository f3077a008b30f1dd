"""``lexnet classify`` (one JSON line per flow) and ``lexnet parity`` (every artifact against the reference)."""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from lexnet.errors import DataFormatError, LexnetError

logger = logging.getLogger(__name__)

_BACKENDS = ("onnxruntime", "openvino", "tvm", "torch")
_PRECISIONS = ("fp32", "bf16", "int8")
_DEVICES = ("cpu", "cuda", "gpu")


def _read_csv(path: Path) -> tuple[list[list[int]], list[str | None]]:
    """One flow per row: signed sizes, optionally preceded by its transport ("tcp"/"udp"); '#' starts a comment."""
    flows: list[list[int]] = []
    transports: list[str | None] = []
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            cells = [cell.strip() for cell in row if cell.strip()]
            if not cells or cells[0].startswith("#"):
                continue
            transport = cells.pop(0).lower() if cells[0].lower() in ("tcp", "udp") else None
            try:
                flows.append([int(cell) for cell in cells])
            except ValueError as error:
                raise DataFormatError(f"{path}:{line}: expected signed packet sizes, got {row} ({error})") from None
            transports.append(transport)
    if not flows:
        raise DataFormatError(f"{path}: no flows found")
    return flows, transports


def _pcap_module() -> Any:
    try:
        return importlib.import_module("lexnet.data.pcap")
    except ImportError as error:
        raise LexnetError(f"reading captures needs lexnet.data.pcap and the 'pcap' extra ({error})") from error


def _read_pcap(path: Path, spec: Any) -> tuple[np.ndarray, None]:
    """Flows of one capture; lexnet.data.pcap already clips to the MTU and applies the UDP rule."""
    return _pcap_module().read_captures([path], spec).x, None


def read_flows(path: Path, spec: Any) -> tuple[Any, list[str | None] | None]:
    """Flows from a .npy of signed sizes (the data format's ``*_x.npy``), a .pcap/.pcapng, or a CSV."""
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False), None
        except (OSError, ValueError) as error:
            raise DataFormatError(f"{path}: not a readable .npy array ({error})") from error
    if suffix in (".pcap", ".pcapng"):
        return _read_pcap(path, spec)
    if suffix in (".csv", ".txt"):
        flows, transports = _read_csv(path)
        return flows, transports if any(t is not None for t in transports) else None
    raise DataFormatError(f"{path}: unknown input type {suffix!r}; expected .npy, .pcap, .pcapng or .csv")


def _classify(args: argparse.Namespace) -> int:
    try:
        return _classify_to_stdout(args)
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as command-line filters do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _classify_to_stdout(args: argparse.Namespace) -> int:
    from lexnet.runtimes import load

    options = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    with load(args.bundle, args.backend, args.device, args.precision, args.threads, **options) as classifier:
        flows, transports = read_flows(Path(args.input), classifier.spec)
        transport = args.transport or transports
        for start in range(0, len(flows), args.batch):
            chunk_transport = transport[start : start + args.batch] if isinstance(transport, list) else transport
            for prediction in classifier.classify(flows[start : start + args.batch], chunk_transport):
                record = prediction.to_dict()
                record["flow_index"] += start
                if args.top is not None:
                    record["explanation"] = record["explanation"][: args.top]
                if not args.scores:
                    record.pop("scores")
                print(json.dumps(record))
    return 0


def _parity_datasets(args: argparse.Namespace, bundle: Any) -> dict[str, np.ndarray]:
    datasets = {"golden": bundle.golden()["inputs"]}
    for source in args.data if args.data is not None else ["synth"]:
        if source == "none":
            continue
        if source == "synth":
            from lexnet.data.synth import SynthConfig, generate

            config = SynthConfig(
                num_classes=len(bundle.class_names),
                train_flows=0,
                test_flows=args.flows,
                seed=args.seed,
                spec=bundle.spec,
            )
            datasets["synth"] = generate(config)["test"].x
        else:
            from lexnet.data.format import read_split

            datasets[f"data:{Path(source).name}"] = read_split(source, args.split).x[: args.flows]
    if args.real:
        datasets["real"] = _real_flows(Path(args.real), args.flows, bundle.spec)
    return datasets


def _real_flows(directory: Path, limit: int, spec: Any) -> np.ndarray:
    """Flows of the captures under ``directory`` (e.g. the nDPI test captures), read 20 captures at a time until
    ``limit`` flows are in."""
    pcap = _pcap_module()
    captures = pcap.find_captures([directory])
    if not captures:
        raise DataFormatError(f"{directory}: no captures found")
    parts, total = [], 0
    for start in range(0, len(captures), 20):
        try:
            flows = pcap.read_captures(captures[start : start + 20], spec).x
        except DataFormatError as error:
            logger.warning("captures %d-%d skipped: %s", start, start + 19, error)
            continue
        parts.append(flows)
        total += len(flows)
        if total >= limit:
            break
    if not parts:
        raise DataFormatError(f"{directory}: no usable flows in {len(captures)} captures")
    return np.concatenate(parts)[:limit]


def _parity(args: argparse.Namespace) -> int:
    from lexnet.runtimes import Bundle
    from lexnet.runtimes.parity import format_table, run_parity

    with Bundle(args.bundle) as bundle:
        datasets = _parity_datasets(args, bundle)
        results = run_parity(
            bundle,
            datasets,
            reference=args.reference,
            checkpoint=args.checkpoint,
            threads=args.threads,
            artifact_ids=args.artifact,
        )
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_dict() for r in results], indent=1) + "\n")
    failed = [r for r in results if r.skipped is None and not r.passed]
    ran = [r for r in results if r.skipped is None]
    print(f"{len(ran) - len(failed)}/{len(ran)} artifact x dataset rows pass; {len(results) - len(ran)} skipped")
    sys.stdout.flush()
    return 1 if failed else 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the backend's own)")
    parser.add_argument(
        "--checkpoint", default=None, help="checkpoint directory for the torch reference (default: the packaged one)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``classify`` and ``parity``."""
    classify = subparsers.add_parser(
        "classify",
        help="classify flows with a bundle; one JSON line per flow with its prediction and explanation",
        description="Classify flows with one artifact of a bundle. INPUT is a .npy of int16 signed sizes [N, packets]"
        " (the data format's *_x.npy), a .pcap/.pcapng capture, or a CSV with one flow per row (signed sizes,"
        " optionally preceded by tcp/udp). Prints one JSON object per flow: label, class_name, logit, scores"
        " (softmax, with --scores) and the explanation (the predicted class's prototypes by contribution).",
    )
    classify.add_argument("bundle", help="bundle directory or .tar")
    classify.add_argument("input", help="flows: .npy, .pcap, .pcapng or .csv")
    classify.add_argument("--backend", choices=_BACKENDS, default="onnxruntime")
    classify.add_argument("--device", choices=_DEVICES, default="cpu")
    classify.add_argument("--precision", choices=_PRECISIONS, default="fp32")
    classify.add_argument("--transport", choices=("tcp", "udp"), default=None, help="transport of every flow")
    classify.add_argument("--top", type=int, default=None, help="keep only the top K prototypes per explanation")
    classify.add_argument("--scores", action="store_true", help="include the softmax scores of every class")
    classify.add_argument("--batch", type=int, default=4096, help="flows per call (default: 4096)")
    _common(classify)
    classify.set_defaults(handler=_classify)

    parity = subparsers.add_parser(
        "parity",
        help="check every artifact of a bundle against the reference; exit code 1 if any falls short",
        description="Compare every artifact with the reference (the torch checkpoint when torch is installed, the"
        " bundle's golden vectors otherwise) on the golden vectors and the data sets asked for: equal predictions,"
        " equal prototype positions of the predicted class (ties reported apart), max |logit| and |similarity|"
        " differences. Thresholds: lexnet.spec.PRECISION_TOLERANCES.",
    )
    parity.add_argument("bundle", help="bundle directory or .tar")
    parity.add_argument(
        "--data",
        action="append",
        help="'synth' (a synthetic hold-out), a flow-format directory, or 'none'; repeatable (default: synth)",
    )
    parity.add_argument("--split", default="test", help="split read from a --data directory (default: test)")
    parity.add_argument("--real", default=None, help="directory of real captures (e.g. ../shared/data/ndpi/pcap)")
    parity.add_argument("--flows", type=int, default=2000, help="flows per data set (default: 2000)")
    parity.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the synthetic world; its test split is the hold-out (default 0: the default checkpoint's world)",
    )
    parity.add_argument("--reference", choices=("auto", "torch", "golden"), default="auto")
    parity.add_argument("--artifact", action="append", help="only this artifact id (repeatable)")
    parity.add_argument("--json", default=None, help="also write the rows as JSON here")
    _common(parity)
    parity.set_defaults(handler=_parity)
