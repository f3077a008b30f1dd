"""Flows of one capture with dpkt: bidirectional 5-tuples, the first packets' IP lengths and directions.

Also the integrity check every engine runs first: a capture whose file ends inside a record is truncated.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)

# Record headers: 16 bytes per classic pcap record, 8 bytes (type, length) per pcapng block.
_RECORD_HEADERS = (16, 8)
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_TRANSPORTS = {6: "tcp", 17: "udp"}
# Link types (tcpdump.org numbering) beyond Ethernet and BSD loopback.
_PPP, _CISCO_HDLC, _LINUX_SLL, _LINUX_SLL2 = 9, 104, 113, 276
_RAW_IP = (12, 14, 101, 228, 229)  # raw IP (12 and 14 are platform-specific DLT_RAW values), IPv4, IPv6
# nfstream's defaults, so both engines cut flows at the same places.
IDLE_TIMEOUT_S = 120.0
ACTIVE_TIMEOUT_S = 1800.0


class CaptureError(Exception):
    """The capture cannot be read at all (not a pcap/pcapng file, unknown link type)."""


@dataclass
class RawFlow:
    """One flow of one capture: the initiator's 5-tuple and the first packets' signed IP lengths."""

    protocol: str
    src: str
    sport: int
    dst: str
    dport: int
    first_seen: float
    sizes: list[int] = field(default_factory=list)
    packets: int = 0
    ndpi_label: str | None = None
    last_seen: float = 0.0
    handshake: Handshake | None = None


class Handshake:
    """Recognises a TCP three-way handshake at the start of a flow, packet by packet.

    Every leading packet with SYN set (SYN, SYN-ACK, their retransmissions) is part of it, and so is the
    initiator's bare ACK right after a SYN-ACK. The first packet that is neither ends it.
    """

    def __init__(self) -> None:
        self.open = True
        self.synack_seen = False
        self.skipped = 0

    def skip(self, *, syn: bool, ack: bool, forward: bool, payload: int) -> bool:
        """Whether this packet belongs to the handshake (and is to be left out of the flow's sizes)."""
        if not self.open:
            return False
        if syn:
            self.synack_seen |= ack and not forward
            self.skipped += 1
            return True
        self.open = False
        if self.synack_seen and forward and ack and payload == 0:
            self.skipped += 1
            return True
        return False


class _ReadWatcher:
    """Passes reads through and notices a short read that is not a clean end between two records."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.name = handle.name
        self.truncated = False

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if size > 0 and len(data) < size and (data or size not in _RECORD_HEADERS):
            self.truncated = True
        return data


def _open_reader(raw: BinaryIO, watcher: _ReadWatcher) -> Any:
    import dpkt

    magic = raw.read(4)
    raw.seek(0)
    try:
        return dpkt.pcapng.Reader(watcher) if magic == _PCAPNG_MAGIC else dpkt.pcap.Reader(watcher)
    except (ValueError, dpkt.UnpackError) as error:
        raise CaptureError(f"not a readable pcap or pcapng file ({error})") from error


def iter_packets(path: Path) -> Iterator[tuple[float, int, bytes]]:
    """(timestamp, link type, frame) of each record; logs a WARNING if the file ends inside a record."""
    import dpkt

    with open(path, "rb") as raw:
        watcher = _ReadWatcher(raw)
        reader = _open_reader(raw, watcher)
        link = reader.datalink()
        try:
            for timestamp, frame in reader:
                yield timestamp, link, frame
        except (dpkt.UnpackError, ValueError, OverflowError) as error:  # a record header cut short or garbled
            logger.debug("%s: stopped at a bad record (%s)", path, error)
            watcher.truncated = True
        if watcher.truncated:
            logger.warning("%s: capture is truncated or corrupt; keeping the packets read before the damage", path)


def check_capture(path: Path) -> None:
    """Read the capture through once: raises ``CaptureError`` if unreadable, warns if truncated."""
    for _ in iter_packets(path):
        pass


def _ip_by_ethertype(ethertype: int, payload: bytes) -> Any:
    import dpkt

    if ethertype == dpkt.ethernet.ETH_TYPE_IP:
        return dpkt.ip.IP(payload)
    if ethertype == dpkt.ethernet.ETH_TYPE_IP6:
        return dpkt.ip6.IP6(payload)
    return None


def _network_layer(link: int, frame: bytes) -> Any:
    """The IP packet inside a frame of the given link type, or ``None``."""
    import dpkt

    if link == dpkt.pcap.DLT_EN10MB:
        packet = dpkt.ethernet.Ethernet(frame).data
    elif link == _LINUX_SLL:
        packet = dpkt.sll.SLL(frame).data
    elif link == _LINUX_SLL2:
        packet = dpkt.sll2.SLL2(frame).data
    elif link in (dpkt.pcap.DLT_NULL, dpkt.pcap.DLT_LOOP):
        packet = dpkt.loopback.Loopback(frame).data
    elif link == _PPP:
        packet = dpkt.ppp.PPP(frame).data
    elif link == _CISCO_HDLC:  # address, control, then an EtherType
        packet = _ip_by_ethertype(int.from_bytes(frame[2:4], "big"), frame[4:])
    elif link in _RAW_IP:
        packet = dpkt.ip6.IP6(frame) if frame[:1] and frame[0] >> 4 == 6 else dpkt.ip.IP(frame)
    else:
        raise CaptureError(f"link type {link} is not supported by the dpkt engine")
    return packet if isinstance(packet, (dpkt.ip.IP, dpkt.ip6.IP6)) else None


def _five_tuple(packet: Any) -> tuple[str, str, int, str, int, int, int, int] | None:
    """(protocol, src, sport, dst, dport, IP length, TCP flags, payload bytes) of a TCP or UDP packet, else None."""
    import dpkt

    segment = packet.data
    protocol = _TRANSPORTS.get(packet.p if isinstance(packet, dpkt.ip.IP) else packet.nxt)
    if protocol is None or not isinstance(segment, (dpkt.tcp.TCP, dpkt.udp.UDP)):
        return None
    if isinstance(packet, dpkt.ip.IP):
        family, length, header = socket.AF_INET, packet.len, packet.hl * 4
    else:
        family, length, header = socket.AF_INET6, 40 + packet.plen, 40
    src, dst = socket.inet_ntop(family, packet.src), socket.inet_ntop(family, packet.dst)
    flags, payload = 0, 0
    if protocol == "tcp":  # from the headers' lengths: the captured bytes may be cut by the snap length
        flags, payload = segment.flags, max(0, length - header - segment.off * 4)
    return protocol, src, segment.sport, dst, segment.dport, length, flags, payload


def read_flows(path: Path, max_packets: int, skip_handshake: bool = False) -> list[RawFlow]:
    """Flows of one capture, in order of first packet, cut by nfstream's idle and active timeouts.

    With ``skip_handshake``, a TCP flow's sizes start after its three-way handshake (see ``Handshake``).
    """
    import dpkt

    active: dict[tuple[Any, ...], RawFlow] = {}
    done: list[RawFlow] = []
    skipped = 0
    for timestamp, link, frame in iter_packets(path):
        try:
            packet = _network_layer(link, frame)
            parsed = None if packet is None else _five_tuple(packet)
        except (dpkt.UnpackError, ValueError, IndexError):
            skipped += 1
            continue
        if parsed is None:
            continue
        protocol, src, sport, dst, dport, length, flags, payload = parsed
        key = (protocol, *sorted([(src, sport), (dst, dport)]))
        flow = active.get(key)
        if flow is not None and (
            timestamp - flow.last_seen > IDLE_TIMEOUT_S or timestamp - flow.first_seen > ACTIVE_TIMEOUT_S
        ):
            done.append(active.pop(key))
            flow = None
        if flow is None:
            flow = active[key] = RawFlow(protocol, src, sport, dst, dport, timestamp)
            flow.handshake = Handshake() if skip_handshake and protocol == "tcp" else None
        flow.packets += 1
        flow.last_seen = timestamp
        forward = (src, sport) == (flow.src, flow.sport)
        if flow.handshake is not None and flow.handshake.skip(
            syn=bool(flags & dpkt.tcp.TH_SYN), ack=bool(flags & dpkt.tcp.TH_ACK), forward=forward, payload=payload
        ):
            continue
        if len(flow.sizes) < max_packets:
            flow.sizes.append(length if forward else -length)
    if skipped:
        logger.debug("%s: %d undecodable frames skipped", path, skipped)
    return sorted([*done, *active.values()], key=lambda f: f.first_seen)
