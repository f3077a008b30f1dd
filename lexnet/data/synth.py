"""Synthetic encrypted traffic with the paper's class mix, for training and testing without private data.

The generator draws a "world" of applications (``provider.app``, each from a protocol family: TLS web, video
streaming, QUIC, VoIP, DNS, ...; see ``lexnet.data._families``), then samples flows from it with vectorised numpy:
signed IP lengths of the first packets (+ client to server, - server to client, 0 = no packet), with TLS handshakes,
bare ACKs, MTU-sized bursts, retransmissions, inserted ACKs, lost packets and early flow ends. Flows belong to
synthetic captures (``groups``) that share the client's TLS stack, TCP options and path MTU.

The class mix follows the paper's Table 2 exactly (up to rounding): for 203 classes, 169 TCP and 34 UDP; the top 10
classes hold 42% of flows, the top 20 60%, the top 50 82%, the top 100 95%; 84% of flows are TCP.

Example:
    >>> from lexnet.data.synth import SynthConfig, generate
    >>> data = generate(SynthConfig(train_flows=1000, test_flows=200))
    >>> data["train"].x.shape, data["train"].x.dtype
    ((1000, 20), dtype('int16'))
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from lexnet.data._catalog import FAMILY_TRANSPORT, TCP_APPS, UDP_APPS
from lexnet.data._families import ACK, FULL, HELLO, ClassTables, build_tables
from lexnet.data.format import ClassInfo, FlowDataset
from lexnet.spec import InputSpec

__all__ = [
    "TABLE2_CLASSES",
    "TABLE2_TCP_SHARE",
    "TABLE2_TOP_SHARES",
    "SynthConfig",
    "class_shares",
    "generate",
    "mix_summary",
]

logger = logging.getLogger(__name__)

# The paper's Table 2: share of flows held by the top-k classes, and the TCP share, for 203 classes (169 TCP).
TABLE2_CLASSES = 203
TABLE2_TCP_CLASSES = 169
TABLE2_TOP_SHARES: dict[int, float] = {10: 0.42, 20: 0.60, 50: 0.82, 100: 0.95}
TABLE2_TCP_SHARE = 0.84

# An IPv4 UDP datagram with one byte of payload; TCP payload packets are one byte longer than a bare ACK.
_UDP_SMALLEST = 29


@dataclass(frozen=True, kw_only=True)
class SynthConfig:
    """What to generate.

    Attributes:
        num_classes: applications; TCP and UDP classes keep the paper's 169:34 ratio.
        train_flows: flows in the "train" split.
        test_flows: flows in the "test" split.
        seed: seeds the applications and both splits (each split has its own stream).
        flows_per_capture: mean flows per synthetic capture (the ``groups`` of a split).
        app_spread: how far an application's knobs may move from its provider's centre, as a share of each knob's
            range: smaller makes applications of one provider harder to tell apart.
        size_noise: multiplies every packet's size spread.
        flow_scale: log-normal sigma of a per-flow factor on payload sizes (content varies between flows).
        perturbation: per-flow probability of each structural accident (retransmission, extra ACK, lost packet).
        early_end: baseline probability that a flow ends before its last packet (families add their own).
        spec: packets per flow, UDP packets kept, MTU.
    """

    num_classes: int = TABLE2_CLASSES
    train_flows: int = 200_000
    test_flows: int = 50_000
    seed: int = 0
    flows_per_capture: int = 50
    app_spread: float = 0.5
    size_noise: float = 1.0
    flow_scale: float = 0.2
    perturbation: float = 0.15
    early_end: float = 0.08
    spec: InputSpec = dataclasses.field(default_factory=InputSpec)

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        if self.train_flows < 0 or self.test_flows < 0:
            raise ValueError(f"flow counts must be >= 0, got train {self.train_flows}, test {self.test_flows}")
        if self.flows_per_capture < 1:
            raise ValueError(f"flows_per_capture must be at least 1, got {self.flows_per_capture}")
        if not 0.0 < self.app_spread <= 1.0:
            raise ValueError(f"app_spread must be in (0, 1], got {self.app_spread}")
        for name in ("size_noise", "flow_scale", "perturbation", "early_end"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.perturbation > 1 or self.early_end > 1:
            raise ValueError(f"perturbation and early_end are probabilities, got {self.perturbation}, {self.early_end}")

    def replace(self, **changes: Any) -> SynthConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynthConfig:
        """Inverse of ``to_dict``; unknown keys raise ``ValueError`` naming them."""
        data = dict(data)
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown SynthConfig field(s) {unknown}")
        if isinstance(data.get("spec"), dict):
            data["spec"] = InputSpec.from_dict(data["spec"])
        return cls(**data)


def class_shares(num_classes: int) -> np.ndarray:
    """Share of flows of each class, most popular first, with Table 2's cumulative shares at its ranks.

    Table 2's anchors are placed at the same fractions of ``num_classes``; between anchors the shares decrease
    linearly (never tying, and never rising across an anchor), so the top-k shares hold exactly.
    """
    fractions = np.array([0.0, *TABLE2_TOP_SHARES, TABLE2_CLASSES]) / TABLE2_CLASSES
    cumulative = np.array([0.0, *TABLE2_TOP_SHARES.values(), 1.0])
    bounds = np.unique(np.clip(np.round(fractions * num_classes).astype(int), 0, num_classes))
    masses = np.diff(np.interp(bounds / num_classes, fractions, cumulative))
    sizes = np.diff(bounds)
    means = masses / sizes
    # Tilt each segment around its mean; the tilt stays under half the gap to each neighbour so ranks keep order.
    gaps = (means[:-1] - means[1:]) / (means[:-1] + means[1:])
    tilt = 0.45 * np.minimum(np.append(gaps, 0.9), np.insert(gaps, 0, 0.9))
    shares = []
    for mean, size, t in zip(means, sizes, tilt, strict=True):
        ramp = np.linspace(1 + t, 1 - t, size) if size > 1 else np.ones(1)
        shares.append(mean * ramp / ramp.mean())
    return np.concatenate(shares)


def mix_summary(data: FlowDataset, top: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Class mix of a split, in Table 2's terms: share of flows of the top-k classes and of TCP classes.

    ``top`` defaults to Table 2's ranks (10, 20, 50, 100) scaled to the split's number of classes.
    """
    if top is None:
        scaled = (round(k * len(data.classes) / TABLE2_CLASSES) for k in TABLE2_TOP_SHARES)
        top = tuple(sorted({k for k in scaled if 0 < k < len(data.classes)}))
    counts = np.bincount(data.y, minlength=len(data.classes))
    total = max(1, int(counts.sum()))
    ranked = np.sort(counts)[::-1]
    tcp = np.array([c.transport == "tcp" for c in data.classes])
    return {
        "flows": int(counts.sum()),
        "classes": len(data.classes),
        "tcp_classes": int(tcp.sum()),
        "top_shares": {k: float(ranked[:k].sum() / total) for k in top},
        "tcp_share": float(counts[tcp].sum() / total),
    }


def _udp_ranks(shares: np.ndarray, count: int, target: float) -> np.ndarray:
    """Ranks given to UDP classes: evenly spread, then nudged until their flow share is closest to ``target``."""
    if count == 0:
        return np.zeros(0, dtype=int)
    n = len(shares)
    best: np.ndarray | None = None
    for start in range(max(1, n // count)):
        ranks = start + (np.arange(count) * n) // count
        ranks = ranks[ranks < n]
        if len(ranks) == count and (
            best is None or abs(shares[ranks].sum() - target) < abs(shares[best].sum() - target)
        ):
            best = ranks
    chosen = set((best if best is not None else np.arange(n - count, n)).tolist())
    improved = True
    while improved:
        improved = False
        for rank in sorted(chosen):
            for other in (rank - 1, rank + 1):
                if 0 <= other < n and other not in chosen:
                    error = abs(sum(shares[list(chosen)]) - target)
                    if abs(sum(shares[list(chosen)]) - shares[rank] + shares[other] - target) < error - 1e-12:
                        chosen = (chosen - {rank}) | {other}
                        improved = True
                        break
    return np.array(sorted(chosen))


def _catalog(count: int, apps: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The first ``count`` applications; beyond the catalogue, numbered variants of its applications."""
    return [
        (name if k < len(apps) else f"{name}-{k // len(apps) + 1}", family)
        for k, (name, family) in ((k, apps[k % len(apps)]) for k in range(count))
    ]


def _applications(num_classes: int) -> tuple[list[tuple[str, str, str]], np.ndarray]:
    """(name, family, transport) of each class in popularity order, and each class's share of flows."""
    shares = class_shares(num_classes)
    udp_count = round(num_classes * (TABLE2_CLASSES - TABLE2_TCP_CLASSES) / TABLE2_CLASSES)
    udp = set(_udp_ranks(shares, udp_count, 1 - TABLE2_TCP_SHARE).tolist())
    tcp_apps = iter(_catalog(num_classes - udp_count, TCP_APPS))
    udp_apps = iter(_catalog(udp_count, UDP_APPS))
    apps = []
    for rank in range(num_classes):
        name, family = next(udp_apps) if rank in udp else next(tcp_apps)
        apps.append((name, family, FAMILY_TRANSPORT[family]))
    return apps, shares


def _exact_counts(shares: np.ndarray, total: int) -> np.ndarray:
    """Flows per class summing to ``total``, as close to ``shares`` as integers allow (largest remainders)."""
    raw = shares * total
    counts = np.floor(raw).astype(np.int64)
    remainder = total - counts.sum()
    counts[np.argsort(-(raw - counts), kind="stable")[:remainder]] += 1
    return counts


def _capture_factors(rng: np.random.Generator, captures: int) -> dict[str, np.ndarray]:
    """What the flows of one capture share: TCP header size (timestamps or not), path MTU, the client's TLS stack."""
    return {
        "ack": rng.choice(np.array([40, 52]), size=captures, p=[0.35, 0.65]),
        "mtu": rng.choice(np.array([1500, 1492, 1420, 1400]), size=captures, p=[0.8, 0.07, 0.08, 0.05]),
        "hello": np.round(rng.normal(0, 10, captures) + 32 * (rng.random(captures) < 0.25)),
    }


def _sample_packets(rng: np.random.Generator, tables: ClassTables, y: np.ndarray, factors: dict[str, np.ndarray],
                    group: np.ndarray, config: SynthConfig) -> np.ndarray:  # fmt: skip
    """Signed sizes [N, packets] (float) drawn from each flow's class tables."""
    n, packets = len(y), tables.client.shape[1]
    u = rng.random((n, packets), dtype=np.float32)
    kind = np.zeros((n, packets), dtype=np.int8)
    for cdf in tables.kind_cdf:  # a categorical draw per packet: count the cumulative thresholds passed
        kind += u >= cdf[y]
    mean, sd = tables.mean[y], tables.sd[y]
    scale = np.exp(rng.normal(0.0, config.flow_scale, (n, 1))).astype(np.float32)
    noise = rng.standard_normal((n, packets), dtype=np.float32)
    size = mean * scale + config.size_noise * sd * noise
    ack, mtu = factors["ack"][group][:, None], factors["mtu"][group][:, None]
    hello = mean + factors["hello"][group][:, None] + sd * noise
    size = np.where(kind == HELLO, hello, np.where(kind == FULL, mtu, np.where(kind == ACK, ack, size)))
    smallest = np.where(tables.is_udp[y][:, None], _UDP_SMALLEST, np.where(kind == ACK, ack, ack + 1))
    size = np.minimum(np.maximum(np.round(size), smallest), mtu)
    client = rng.random((n, packets), dtype=np.float32) < tables.client[y]
    return np.where(client, size, -size)


def _shift(x: np.ndarray, rows: np.ndarray, at: np.ndarray, step: int) -> np.ndarray:
    """Insert a copy of packet ``at`` (step +1) or delete it (step -1), in place, in the rows chosen."""
    chosen = np.flatnonzero(rows)
    packets = x.shape[1]
    j = np.arange(packets)[None, :]
    where = at[chosen, None]
    source = j - (j > where) if step > 0 else j + (j >= where)
    padded = np.concatenate([x[chosen], np.zeros((len(chosen), 1), x.dtype)], axis=1)
    x[chosen] = np.take_along_axis(padded, np.minimum(source, packets), axis=1)
    return x


def _perturb(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, tables: ClassTables, ack: np.ndarray,
             p: float) -> np.ndarray:  # fmt: skip
    """Structural accidents: a retransmitted packet, an extra ACK (TCP), a packet lost before capture."""
    n: int = x.shape[0]
    packets: int = x.shape[1]
    rows = np.arange(n)
    retransmit = rng.random(n) < p
    x = _shift(x, retransmit, rng.integers(1, packets, n), +1)
    extra_ack = (rng.random(n) < p) & ~tables.is_udp[y]
    at = rng.integers(1, packets, n)
    x = _shift(x, extra_ack, at, +1)
    opposite = -np.sign(x[rows, at - 1]) * ack
    x[extra_ack, at[extra_ack]] = opposite[extra_ack]
    lost = rng.random(n) < p
    return _shift(x, lost, rng.integers(1, packets, n), -1)


def _truncate(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, tables: ClassTables, spec: InputSpec) -> None:
    """Early flow ends (zero padding after the last packet), and UDP flows cut to ``spec.udp_packets``."""
    n, packets = x.shape
    early = rng.random(n) < tables.early[y]
    low, high = tables.early_low[y], np.maximum(tables.early_low[y], tables.early_high[y])
    length = np.where(early, low + (rng.random(n) * (high - low + 1)).astype(np.int64), packets)
    length = np.where(tables.is_udp[y], np.minimum(length, spec.udp_packets), length)
    x[np.arange(packets)[None, :] >= length[:, None]] = 0


def _split(rng: np.random.Generator, tables: ClassTables, shares: np.ndarray, flows: int, first_group: int,
           config: SynthConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """One split: flows with exact class counts, shuffled, grouped into captures."""
    y = rng.permutation(np.repeat(np.arange(len(shares)), _exact_counts(shares, flows)))
    captures = max(1, -(-flows // config.flows_per_capture))
    group = rng.integers(0, captures, flows)
    factors = _capture_factors(rng, captures)
    x = _sample_packets(rng, tables, y, factors, group, config)
    x = _perturb(rng, x, y, tables, factors["ack"][group], config.perturbation)
    _truncate(rng, x, y, tables, config.spec)
    return x.astype(np.int16), y.astype(np.int64), (group + first_group).astype(np.int64)


def generate(config: SynthConfig | None = None) -> dict[str, FlowDataset]:
    """The "train" and "test" splits of ``config``; the same config always gives the same flows.

    Each split draws from its own random stream, so changing ``test_flows`` leaves the training flows as they were.
    Test captures are numbered after the training captures (``groups`` never overlap).
    """
    config = config or SynthConfig()
    started = time.perf_counter()
    world, train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(3))
    apps, shares = _applications(config.num_classes)
    tables = build_tables(apps, config.spec.packets, world, app_spread=config.app_spread, early_end=config.early_end)
    classes = [ClassInfo(name, transport) for name, _, transport in apps]
    train_captures = max(1, -(-config.train_flows // config.flows_per_capture))
    splits = {}
    for split, rng, flows, first in (
        ("train", train_rng, config.train_flows, 0),
        ("test", test_rng, config.test_flows, train_captures),
    ):
        x, y, groups = _split(rng, tables, shares, flows, first, config)
        splits[split] = FlowDataset(x, y, classes, groups, source=f"synth:seed={config.seed}:{split}")
    seconds = time.perf_counter() - started
    total = config.train_flows + config.test_flows
    logger.info("generated %d synthetic flows, %d classes, in %.2f s", total, config.num_classes, seconds)
    return splits
