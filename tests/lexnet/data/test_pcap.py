from __future__ import annotations

import importlib.util
import json
import logging
import socket
from pathlib import Path

import numpy as np
import pytest

from lexnet.cli import main
from lexnet.data import read_dataset
from lexnet.data._dpkt_flows import Handshake
from lexnet.data.pcap import LabelMap, ndpi_result_labels, read_captures
from lexnet.errors import DataFormatError

dpkt = pytest.importorskip("dpkt")

pytestmark = pytest.mark.pcap

ENGINES = ["dpkt", pytest.param("nfstream", marks=pytest.mark.skipif(
    importlib.util.find_spec("nfstream") is None, reason="needs nfstream (install the 'pcap' extra)"))]  # fmt: skip

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
# (client to server?, payload bytes) of a TCP flow: handshake, request, a 3000-byte offloaded segment, ACK.
TCP_PACKETS = [(True, 0), (False, 0), (True, 0), (True, 500), (False, 2960), (False, 1000), (True, 0)]
TCP_EXPECTED = [40, -40, 40, 540, -1500, -1040, 40]
UDP_PACKETS = [(i % 3 != 2, 100 + i) for i in range(12)]  # 12 datagrams, only 10 kept
UDP_EXPECTED = [(128 + i) * (1 if i % 3 != 2 else -1) for i in range(10)]


def _frame(src: str, dst: str, segment: dpkt.Packet, protocol: int) -> bytes:
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=protocol, ttl=64, data=segment)
    ip.len = 20 + len(bytes(segment))
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def _packets(sport: int, udp_port: int) -> list[bytes]:
    frames = []
    for forward, size in TCP_PACKETS:
        ports = (sport, 443) if forward else (443, sport)
        flags = (
            [dpkt.tcp.TH_SYN, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK][len(frames)] if len(frames) < 2 else dpkt.tcp.TH_ACK
        )
        tcp = dpkt.tcp.TCP(sport=ports[0], dport=ports[1], flags=flags, data=b"x" * size)
        frames.append(_frame(*((CLIENT, SERVER) if forward else (SERVER, CLIENT)), tcp, dpkt.ip.IP_PROTO_TCP))
    for forward, size in UDP_PACKETS:
        ports = (udp_port, 3478) if forward else (3478, udp_port)
        udp = dpkt.udp.UDP(sport=ports[0], dport=ports[1], data=b"u" * size)
        udp.ulen = 8 + size
        frames.append(_frame(*((CLIENT, SERVER) if forward else (SERVER, CLIENT)), udp, dpkt.ip.IP_PROTO_UDP))
    short = dpkt.udp.UDP(sport=5353, dport=5353, data=b"q" * 20)  # two packets: below --min-packets 3
    frames += [_frame(CLIENT, SERVER, short, dpkt.ip.IP_PROTO_UDP)] * 2
    return frames


def _write(path: Path, sport: int = 40000, udp_port: int = 50000, pcapng: bool = False) -> Path:
    with open(path, "wb") as handle:
        writer = (dpkt.pcapng.Writer if pcapng else dpkt.pcap.Writer)(handle, snaplen=65535)
        for index, frame in enumerate(_packets(sport, udp_port)):
            writer.writepkt(frame, ts=1_700_000_000 + 0.01 * index)
    return path


def _expected() -> np.ndarray:
    x = np.zeros((2, 20), dtype=np.int16)
    x[0, : len(TCP_EXPECTED)] = TCP_EXPECTED
    x[1, : len(UDP_EXPECTED)] = UDP_EXPECTED
    return x


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("pcapng", [False, True], ids=["pcap", "pcapng"])
def test_ingestion_is_exact(tmp_path: Path, engine: str, pcapng: bool) -> None:
    path = _write(tmp_path / ("one.pcapng" if pcapng else "one.pcap"), pcapng=pcapng)
    data = read_captures([path], labeller=LabelMap(default="unknown"), engine=engine)
    assert data.x.dtype == np.int16
    assert np.array_equal(data.x, _expected())
    assert data.groups.tolist() == [0, 0]
    names = [c.name for c in data.classes]
    # nDPI guesses by port (443, 3478) where it has nothing better; dpkt has no DPI and falls back to the default
    assert names == (["unknown"] if engine == "dpkt" else ["STUN", "TLS"])
    assert [c.transport for c in data.classes] == (["tcp"] if engine == "dpkt" else ["udp", "tcp"])


@pytest.mark.parametrize("engine", ENGINES)
def test_skip_handshake(tmp_path: Path, engine: str) -> None:
    path = _write(tmp_path / "one.pcap")
    data = read_captures([path], engine=engine, skip_handshake=True)
    expected = _expected()
    expected[0, : len(TCP_EXPECTED) - 3] = TCP_EXPECTED[3:]  # SYN, SYN-ACK and the bare ACK are left out
    expected[0, len(TCP_EXPECTED) - 3 :] = 0
    assert np.array_equal(data.x, expected)


@pytest.mark.parametrize(
    ("packets", "skipped"),
    [
        ([(True, False, True, 0), (True, False, True, 0), (True, True, False, 0), (False, True, True, 0)], 4),
        ([(True, False, True, 0), (True, True, False, 0), (False, True, True, 300)], 2),  # data right away
        ([(False, True, True, 500), (False, True, True, 0)], 0),  # the capture began mid-flow
    ],
    ids=["retransmitted-syn", "no-bare-ack", "mid-flow"],
)
def test_handshake_rule(packets: list[tuple[bool, bool, bool, int]], skipped: int) -> None:
    handshake = Handshake()
    flags = [handshake.skip(syn=syn, ack=ack, forward=fwd, payload=size) for syn, ack, fwd, size in packets]
    assert handshake.skipped == skipped
    assert flags == [True] * skipped + [False] * (len(packets) - skipped)


def test_mtu_and_min_packets(tmp_path: Path) -> None:
    path = _write(tmp_path / "one.pcap")
    data = read_captures([path], mtu=1000, min_packets=2, engine="dpkt")
    assert len(data) == 3
    assert np.abs(data.x).max() == 1000
    assert data.x[0, 4] == -1000


def test_labels_from_a_mapping(tmp_path: Path) -> None:
    first, second = _write(tmp_path / "a.pcap"), _write(tmp_path / "voice-b.pcap", sport=40001, udp_port=50001)
    flow = {"capture": "a.pcap", "protocol": "tcp", "src": SERVER, "sport": 443, "dst": CLIENT, "dport": 40000}
    mapping = LabelMap.from_dict(
        {"flows": [{**flow, "label": "web.site"}], "captures": {"voice-*.pcap": "voip.app"}, "default": "other"}
    )
    data = read_captures([first, second], labeller=mapping, engine="dpkt")
    labels = [data.classes[i].name for i in data.y]
    assert labels == ["web.site", "other", "voip.app", "voip.app"]
    assert data.groups.tolist() == [0, 0, 1, 1]
    transports = {c.name: c.transport for c in data.classes}
    assert transports == {"other": "udp", "voip.app": "tcp", "web.site": "tcp"}


def test_bad_mapping(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"flows\[0\] needs"):
        LabelMap.from_dict({"flows": [{"src": "1.2.3.4"}]})
    (tmp_path / "m.json").write_text("{nope")
    with pytest.raises(DataFormatError, match="cannot read the label mapping"):
        LabelMap.load(tmp_path / "m.json")


def test_truncated_and_corrupt_captures_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = _write(tmp_path / "good.pcap")
    cut = _write(tmp_path / "cut.pcap", sport=40001, udp_port=50001)
    cut.write_bytes(cut.read_bytes()[:-30])
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"not a capture at all" * 10)
    with caplog.at_level(logging.WARNING, logger="lexnet.data"):
        data = read_captures([garbage, cut, good], engine="dpkt")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("garbage.pcap: skipped" in w for w in warnings)
    assert any("cut.pcap: capture is truncated" in w for w in warnings)
    assert np.array_equal(data.x[data.groups == 2], _expected())
    assert (data.groups == 1).sum() == 2  # the cut capture still gives the flows read before the damage


def test_no_flows_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no flows"):
        read_captures([_write(tmp_path / "a.pcap")], min_packets=100, engine="dpkt")


def test_cli_pcap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    captures = tmp_path / "captures"
    captures.mkdir()
    for k in range(4):
        _write(captures / f"c{k}.pcap", sport=40000 + k, udp_port=50000 + k)
    mapping = tmp_path / "labels.json"
    mapping.write_text(json.dumps({"captures": {"c*.pcap": "app.one"}}))
    out = tmp_path / "out"
    argv = ["data", "pcap", str(captures), "--out", str(out), "--engine", "dpkt", "--labels", str(mapping)]
    assert main([*argv, "--split-by-group", "0.25", "--mtu", "1400"]) == 0
    data = read_dataset(out)
    assert (len(data["train"]), len(data["test"])) == (6, 2)
    assert not set(data["train"].groups.tolist()) & set(data["test"].groups.tolist())
    assert np.abs(data["train"].x).max() == 1400
    assert len(json.loads((out / "captures.json").read_text())) == 4
    printed = capsys.readouterr().out
    assert "read 8 flows with at least 3 packets from 4 captures" in printed
    assert main([*argv, "--min-class-flows", "100"]) == 2
    assert "no flows left" in capsys.readouterr().err


REAL = ["443-chrome.pcap", "whatsapp_voice_and_message.pcap", "google_ssl.pcap", "dns_long_domainname.pcap",
        "quic.pcap", "skype-conference-call.pcap", "netflix.pcap"]  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
def test_real_captures(ndpi_dir: Path, engine: str) -> None:
    paths = [ndpi_dir / "pcap" / name for name in REAL if (ndpi_dir / "pcap" / name).exists()]
    labeller = ndpi_result_labels(ndpi_dir / "result") if engine == "dpkt" else None
    data = read_captures(paths, labeller=labeller, engine=engine)
    assert len(data) >= 10
    assert len(np.unique(data.groups)) >= 3
    named = [c.name for c in data.classes if c.name.lower() != "unknown"]
    assert len(named) >= 3
    assert np.abs(data.x).max() <= 1500
    assert np.all((data.x != 0).sum(axis=1) >= 1)
