"""Flows from packet captures (pcap and pcapng): the first packets' IP lengths and directions, and a label.

Two engines:

- ``nfstream`` (nDPI inside): ``NFStreamer(splt_analysis=packets, accounting_mode=1)`` gives each flow's first IP
  lengths and directions and nDPI's application label (``TLS.YouTube``, ``QUIC.Google``, ...);
- ``dpkt``: the same flows (bidirectional 5-tuples cut by nfstream's idle and active timeouts) without DPI; labels
  come from a mapping file, or are ``unknown``.

Sizes are IP lengths, clipped to the MTU (segmentation offload at capture time produces longer ones), signed by
direction: + for the direction of the flow's first packet. UDP flows keep ``spec.udp_packets`` packets. Groups are
the index of the capture file, so splits can keep captures apart.

Label mapping file (JSON), every key optional; the first match wins, in this order:

    {
      "flows": [{"capture": "x.pcap", "protocol": "tcp", "src": "10.0.0.1", "sport": 5555,
                 "dst": "1.2.3.4", "dport": 443, "label": "google.search"}],
      "captures": {"whatsapp*.pcap": "meta.whatsapp"},
      "default": "unknown"
    }

A flow entry matches in either direction and, without "capture", in any capture; capture keys are shell patterns
matched against the file name. Flows no entry matches keep nDPI's label (nfstream engine) or take "default".

Example:
    >>> data = read_captures(["capture.pcap"], engine="dpkt")  # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lexnet.data._dpkt_flows import CaptureError, Handshake, RawFlow, check_capture, read_flows
from lexnet.data.format import ClassInfo, FlowDataset
from lexnet.errors import DataFormatError
from lexnet.spec import InputSpec

__all__ = [
    "CAPTURE_SUFFIXES",
    "ENGINES",
    "LabelMap",
    "find_captures",
    "flows_to_array",
    "ndpi_result_labels",
    "read_captures",
]

logger = logging.getLogger(__name__)

ENGINES = ("auto", "nfstream", "dpkt")
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
UNKNOWN = "unknown"
# Extra packets asked of nfstream when the handshake is skipped (SYN, SYN-ACK, ACK and one retransmitted SYN).
_HANDSHAKE_ROOM = 4

# (capture file name, flow) -> label
Labeller = Callable[[str, RawFlow], str]


@dataclass(frozen=True)
class LabelMap:
    """Labels from a mapping file (see the module docstring); callable as a labeller."""

    flows: dict[tuple[str, ...], str] = field(default_factory=dict)
    captures: dict[str, str] = field(default_factory=dict)
    default: str = UNKNOWN

    @staticmethod
    def _key(capture: str, protocol: str, a: tuple[str, int], b: tuple[str, int]) -> tuple[str, ...]:
        (ip1, port1), (ip2, port2) = sorted([(str(a[0]), int(a[1])), (str(b[0]), int(b[1]))])
        return (capture, protocol.lower(), ip1, str(port1), ip2, str(port2))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "label mapping") -> LabelMap:
        """A mapping from its JSON form; raises ``DataFormatError`` naming ``where`` and the bad entry."""
        if not isinstance(data, dict) or set(data) - {"flows", "captures", "default"}:
            raise DataFormatError(f"{where}: expected an object with keys 'flows', 'captures', 'default'")
        flows = {}
        for index, entry in enumerate(data.get("flows", [])):
            try:
                key = cls._key(
                    entry.get("capture", "*"),
                    entry["protocol"],
                    (entry["src"], entry["sport"]),
                    (entry["dst"], entry["dport"]),
                )
                flows[key] = str(entry["label"])
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise DataFormatError(
                    f"{where}: flows[{index}] needs protocol, src, sport, dst, dport, label"
                ) from error
        captures = data.get("captures", {})
        if not isinstance(captures, dict):
            raise DataFormatError(f"{where}: 'captures' must map file name patterns to labels")
        return cls(flows, {str(k): str(v) for k, v in captures.items()}, str(data.get("default", UNKNOWN)))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LabelMap:
        """Read a mapping file."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise DataFormatError(f"{path}: cannot read the label mapping ({error})") from error
        return cls.from_dict(data, str(path))

    def __call__(self, capture: str, flow: RawFlow) -> str:
        for scope in (capture, "*"):
            label = self.flows.get(self._key(scope, flow.protocol, (flow.src, flow.sport), (flow.dst, flow.dport)))
            if label is not None:
                return label
        for pattern, label in self.captures.items():
            if fnmatch.fnmatch(capture, pattern):
                return label
        return flow.ndpi_label or self.default


_NDPI_FLOW = re.compile(r"^\s*\d+\s+(TCP|UDP)\s+(\S+?):(\d+)\s+<?->\s+(\S+?):(\d+)\s+\[proto:\s*[\d.]+/([^\]]+)\]")


def ndpi_result_labels(results: str | os.PathLike[str]) -> LabelMap:
    """Labels from nDPI's own per-capture output files (``NAME.out`` lines with a 5-tuple and ``[proto: N/Label]``)."""
    flows = {}
    for path in sorted(Path(results).glob("*.out")):
        capture = path.name.removesuffix(".out")
        for line in path.read_text(errors="replace").splitlines():
            match = _NDPI_FLOW.match(line)
            if match:
                protocol, src, sport, dst, dport, label = match.groups()
                key = LabelMap._key(capture, protocol, (src.strip("[]"), int(sport)), (dst.strip("[]"), int(dport)))
                flows[key] = label
    if not flows:
        raise DataFormatError(f"{results}: no nDPI result lines found in *.out files")
    return LabelMap(flows)


def find_captures(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Capture files named directly or found (recursively, sorted) in the directories named."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in CAPTURE_SUFFIXES and p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such capture file or directory")
    return found


def _resolve_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    available = {name: importlib.util.find_spec(name) is not None for name in ("nfstream", "dpkt")}
    if not available["dpkt"]:
        raise NotImplementedError("reading captures needs dpkt (install the 'pcap' extra: pip install 'lexnet[pcap]')")
    if engine == "auto":
        return "nfstream" if available["nfstream"] else "dpkt"
    if not available[engine]:
        raise NotImplementedError(f"engine {engine!r} is not installed (install the 'pcap' extra)")
    return engine


def _handshake_plugin() -> Any:
    """An nfstream plugin that counts each TCP flow's leading handshake packets (``flow.udps.handshake``)."""
    from nfstream import NFPlugin

    class HandshakeCounter(NFPlugin):
        def on_init(self, packet: Any, flow: Any) -> None:
            flow.udps.handshake = Handshake() if packet.protocol == 6 else None
            self.on_update(packet, flow)

        def on_update(self, packet: Any, flow: Any) -> None:
            if flow.udps.handshake is not None:
                flow.udps.handshake.skip(
                    syn=bool(packet.syn), ack=bool(packet.ack), forward=packet.direction == 0,
                    payload=packet.payload_size,
                )  # fmt: skip

    return HandshakeCounter()


def _nfstream_flows(path: Path, packets: int, skip_handshake: bool) -> list[RawFlow]:
    from nfstream import NFStreamer

    # accounting_mode=1: IP lengths, as the dpkt engine reads them; statistics off, nDPI on the first 20 packets.
    # Skipping the handshake needs a few more packets per flow and a plugin that sees the TCP flags.
    streamer = NFStreamer(
        source=str(path),
        splt_analysis=packets + (_HANDSHAKE_ROOM if skip_handshake else 0),
        accounting_mode=1,
        statistical_analysis=False,
        n_dissections=20,
        n_meters=1,
        performance_report=0,
        udps=_handshake_plugin() if skip_handshake else None,
    )
    flows = []
    try:
        records = list(streamer)
    except ValueError as error:
        raise CaptureError(str(error)) from error
    for record in records:
        protocol = {6: "tcp", 17: "udp"}.get(record.protocol)
        if protocol is None:
            continue
        sizes = [
            size if direction == 0 else -size
            for size, direction in zip(record.splt_ps, record.splt_direction, strict=True)
            if direction >= 0
        ]
        handshake = getattr(record.udps, "handshake", None) if skip_handshake else None
        flows.append(
            RawFlow(
                protocol,
                record.src_ip,
                record.src_port,
                record.dst_ip,
                record.dst_port,
                record.bidirectional_first_seen_ms / 1000.0,
                sizes[handshake.skipped if handshake else 0 :][:packets],
                record.bidirectional_packets,
                ndpi_label=record.application_name or None,
            )
        )
    return sorted(flows, key=lambda f: f.first_seen)


def flows_to_array(flows: Sequence[RawFlow], spec: InputSpec, mtu: int) -> np.ndarray:
    """Signed sizes [N, spec.packets] (int16): clipped to ``mtu``, UDP flows cut to ``spec.udp_packets``."""
    x = np.zeros((len(flows), spec.packets), dtype=np.int64)
    for row, flow in enumerate(flows):
        keep = spec.udp_packets if flow.protocol == "udp" else spec.packets
        sizes = flow.sizes[: min(keep, spec.packets)]
        x[row, : len(sizes)] = sizes
    return (np.sign(x) * np.minimum(np.abs(x), mtu)).astype(np.int16)


def _read_one(path: Path, engine: str, packets: int, skip_handshake: bool) -> list[RawFlow]:
    if engine == "dpkt":
        return read_flows(path, packets, skip_handshake)
    check_capture(path)  # nfstream reads truncated captures silently: dpkt notices and warns
    return _nfstream_flows(path, packets, skip_handshake)


def _classes(labels: list[str], protocols: list[str]) -> tuple[list[ClassInfo], np.ndarray]:
    """Classes sorted by name, each with its flows' most common transport, and each flow's class index."""
    names = sorted(set(labels))
    transports: dict[str, Counter[str]] = {name: Counter() for name in names}
    for label, protocol in zip(labels, protocols, strict=True):
        transports[label][protocol] += 1
    classes = [ClassInfo(name, transports[name].most_common(1)[0][0]) for name in names]
    index = {name: i for i, name in enumerate(names)}
    return classes, np.array([index[label] for label in labels], dtype=np.int64)


def read_captures(
    paths: Iterable[str | os.PathLike[str]],
    spec: InputSpec | None = None,
    labeller: Labeller | None = None,
    mtu: int | None = None,
    *,
    engine: str = "auto",
    min_packets: int = 3,
    skip_handshake: bool = False,
) -> FlowDataset:
    """Flows of every capture in ``paths`` (files or directories), as one data set grouped by capture.

    Args:
        paths: capture files (pcap, pcapng) or directories searched for them.
        spec: packets kept per flow and for UDP flows (default ``InputSpec()``).
        labeller: (capture file name, flow) -> label; default: nDPI's label with the nfstream engine, else "unknown".
        mtu: sizes are clipped to this (default ``spec.mtu``).
        engine: "nfstream", "dpkt", or "auto" (nfstream where installed).
        min_packets: flows with fewer packets in total are dropped.
        skip_handshake: a TCP flow's sizes start after its three-way handshake (SYN, SYN-ACK, ACK), as synthetic
            flows do; ``min_packets`` still counts every packet.

    A capture that cannot be read, or is truncated, gives a WARNING; the others go on.
    """
    spec = spec or InputSpec()
    mtu = spec.mtu if mtu is None else mtu
    engine = _resolve_engine(engine)
    labeller = labeller or LabelMap()
    captures = find_captures(paths)
    flows: list[RawFlow] = []
    labels: list[str] = []
    groups: list[int] = []
    started = time.perf_counter()
    for index, path in enumerate(captures):
        try:
            found = [f for f in _read_one(path, engine, spec.packets, skip_handshake) if f.packets >= min_packets]
        except (CaptureError, OSError) as error:
            logger.warning("%s: skipped (%s)", path, error)
            continue
        flows.extend(found)
        labels.extend(labeller(path.name, flow) for flow in found)
        groups.extend([index] * len(found))
        logger.debug("%s: %d flows", path, len(found))
    if not flows:
        raise DataFormatError(f"no flows with at least {min_packets} packets in {len(captures)} capture(s)")
    classes, y = _classes(labels, [f.protocol for f in flows])
    logger.info(
        "read %d flows, %d labels from %d captures with %s in %.1f s",
        len(flows),
        len(classes),
        len(captures),
        engine,
        time.perf_counter() - started,
    )
    return FlowDataset(flows_to_array(flows, spec, mtu), y, classes, np.array(groups, dtype=np.int64), "pcap")
