"""Packet patterns of the synthetic generator's protocol families, as per-class tables of per-packet distributions.

A class's table says, for each of the flow's packets, how likely it goes client to server, which kind of packet it is
(a bare ACK, an MTU-sized segment, a payload of some mean size, or a ClientHello-like first packet whose size depends
on the client's TLS stack), and the mean and spread of its size. The generator samples flows from these tables.

Parameters are drawn at three levels so that errors fall between related applications: the protocol family fixes the
script (TLS handshake then request/response, bursts, RTP...), the provider fixes its TLS stack (certificate chain,
TLS version) and a centre for every per-application knob, and each application deviates from its provider's centre
by at most ``app_spread`` of the knob's range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ACK", "FULL", "HELLO", "KINDS", "PAYLOAD", "ClassTables", "build_tables"]

ACK, FULL, PAYLOAD, HELLO = range(4)
KINDS = 4


@dataclass
class _Script:
    """Per-packet distributions of one class, filled slot by slot by a family script."""

    packets: int
    client: list[float] = field(default_factory=list)
    kinds: list[tuple[float, float, float, float]] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    sd: list[float] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.client) >= self.packets

    def add(self, client: float, *, ack: float = 0.0, full: float = 0.0, hello: float = 0.0, mean: float = 0.0,
            sd: float = 0.0) -> None:  # fmt: skip
        """One packet: P(client to server), kind probabilities (the rest is a payload of ``mean`` +- ``sd``)."""
        if self.full:
            return
        payload = max(0.0, 1.0 - ack - full - hello)
        self.client.append(min(1.0, max(0.0, float(client))))
        self.kinds.append((ack, full, payload, hello))
        self.mean.append(float(mean))
        self.sd.append(float(sd))


class _Draw:
    """Draws knobs for one class: provider centres are cached, the application deviates by ``spread``."""

    def __init__(self, rng: np.random.Generator, spread: float) -> None:
        self.rng = rng
        self.spread = spread
        self._provider: dict[tuple[str, ...], float] = {}
        self.provider_name = ""
        self.family = ""

    def for_class(self, provider: str, family: str) -> _Draw:
        self.provider_name, self.family = provider, family
        return self

    def provider(self, key: str, low: float, high: float) -> float:
        """A knob shared by every application of the provider (its TLS stack, its servers)."""
        cache_key = (self.provider_name, key)
        if cache_key not in self._provider:
            self._provider[cache_key] = float(self.rng.uniform(low, high))
        return self._provider[cache_key]

    def app(self, key: str, low: float, high: float) -> float:
        """A knob of one application: its provider's centre for this family, moved by up to ``spread`` of the range."""
        cache_key = (self.provider_name, self.family, key)
        if cache_key not in self._provider:
            self._provider[cache_key] = float(self.rng.uniform(low, high))
        deviation = self.spread * float(self.rng.uniform(-0.5, 0.5)) * (high - low)
        return min(high, max(low, self._provider[cache_key] + deviation))

    def count(self, key: str, low: int, high: int) -> int:
        return round(self.app(key, low, high + 0.999) - 0.4999)


def _tls_handshake(s: _Script, d: _Draw) -> None:
    """SYN-less TLS: ClientHello, the server's hello and certificate chain, the client's ACK and Finished."""
    s.add(1.0, hello=1.0, mean=d.app("client_hello", 560, 700), sd=4)
    server_ack = d.provider("server_ack", 0.1, 0.9)
    s.add(0.0, ack=server_ack, full=1 - server_ack)
    for _ in range(round(d.provider("cert_full", 0.6, 3.4))):
        s.add(0.05, full=0.92, mean=1200, sd=150)
    s.add(0.05, mean=d.provider("cert_rest", 150, 1400), sd=40)
    s.add(1.0, ack=0.85, mean=90, sd=10)
    tls13 = d.provider("tls13", 0, 1) > 0.4
    s.add(1.0, mean=80 if tls13 else 126, sd=3)


def _request_response(s: _Script, d: _Draw, *, request: tuple[float, float], response: tuple[float, float],
                      p_full: tuple[float, float], burst: tuple[int, int]) -> None:  # fmt: skip
    """Requests from the client, each answered by a burst of server segments with the client ACKing them."""
    req = d.app("request", *request)
    resp = d.app("response", *response)
    full = d.app("p_full", *p_full)
    length = d.count("burst", *burst)
    ack_every = d.count("ack_every", 1, 4)
    while not s.full:
        s.add(0.95, mean=req, sd=0.25 * req)
        for k in range(length):
            s.add(0.08, ack=0.1, full=full, mean=resp, sd=0.35 * resp)
            if k % ack_every == ack_every - 1:
                s.add(0.92, ack=0.9, mean=req, sd=0.2 * req)


def _web(s: _Script, d: _Draw) -> None:
    _tls_handshake(s, d)
    _request_response(s, d, request=(120, 900), response=(150, 1400), p_full=(0.1, 0.7), burst=(1, 6))


def _social(s: _Script, d: _Draw) -> None:
    _tls_handshake(s, d)
    _request_response(s, d, request=(200, 700), response=(400, 1400), p_full=(0.4, 0.85), burst=(3, 8))


def _video(s: _Script, d: _Draw) -> None:
    _tls_handshake(s, d)
    _request_response(s, d, request=(300, 1100), response=(600, 1400), p_full=(0.75, 0.97), burst=(5, 12))


def _music(s: _Script, d: _Draw) -> None:
    _tls_handshake(s, d)
    _request_response(s, d, request=(250, 800), response=(300, 1400), p_full=(0.5, 0.9), burst=(3, 8))


def _update(s: _Script, d: _Draw) -> None:
    _tls_handshake(s, d)
    _request_response(s, d, request=(150, 600), response=(1000, 1400), p_full=(0.85, 0.99), burst=(8, 16))


def _api(s: _Script, d: _Draw) -> None:
    _tls_handshake(s, d)
    _request_response(s, d, request=(300, 1400), response=(80, 700), p_full=(0.0, 0.3), burst=(1, 3))


def _mail(s: _Script, d: _Draw) -> None:
    _tls_handshake(s, d)
    _request_response(s, d, request=(90, 400), response=(100, 900), p_full=(0.0, 0.4), burst=(1, 4))


def _cloud(s: _Script, d: _Draw) -> None:
    """Uploads (the client sends MTU-sized segments) or downloads, by application."""
    _tls_handshake(s, d)
    upload = d.app("upload", 0, 1)
    req = d.app("request", 300, 900)
    full = d.app("p_full", 0.6, 0.97)
    length = d.count("burst", 3, 10)
    while not s.full:
        s.add(0.95, mean=req, sd=0.2 * req)
        for _ in range(length):
            s.add(upload, full=full, mean=900, sd=300)
        s.add(1 - upload, ack=0.9, mean=120, sd=20)


def _conversation(s: _Script, d: _Draw, *, sizes: tuple[float, float], ack: float) -> None:
    """Small messages both ways (chat, signalling, game state): direction and size alternate by application."""
    client = d.app("client_share", 0.25, 0.75)
    a = d.app("size_a", *sizes)
    b = d.app("size_b", *sizes)
    period = d.count("period", 2, 4)
    k = 0
    while not s.full:
        s.add(client, ack=ack, mean=a if k % period == 0 else b, sd=0.2 * (a if k % period == 0 else b))
        k += 1


def _messaging(s: _Script, d: _Draw) -> None:
    """Messaging apps often skip TLS for their own handshake (Noise, MTProto): a short client hello, then chat."""
    hello = d.app("hello", 120, 500)
    s.add(1.0, hello=0.3, mean=hello, sd=8)
    s.add(0.0, ack=0.4, mean=d.app("server_hello", 100, 600), sd=20)
    s.add(1.0, mean=d.app("auth", 80, 400), sd=10)
    _conversation(s, d, sizes=(60, 400), ack=0.3)


def _conferencing(s: _Script, d: _Draw) -> None:
    _tls_handshake(s, d)
    _conversation(s, d, sizes=(90, 700), ack=0.25)


def _gaming(s: _Script, d: _Draw) -> None:
    _tls_handshake(s, d)
    _conversation(s, d, sizes=(60, 300), ack=0.2)


def _quic(s: _Script, d: _Draw) -> None:
    """QUIC: padded Initial packets, the server's handshake, then request and response datagrams."""
    s.add(1.0, hello=1.0, mean=d.app("initial", 1240, 1390), sd=2)
    s.add(0.0, mean=d.provider("server_initial", 1200, 1400), sd=10)
    s.add(0.0, mean=d.provider("server_handshake", 600, 1400), sd=60)
    s.add(1.0, mean=d.app("client_ack", 60, 110), sd=4)
    req = d.app("request", 90, 600)
    resp = d.app("response", 200, 1400)
    while not s.full:
        s.add(0.9, mean=req, sd=0.2 * req)
        s.add(0.1, mean=resp, sd=0.25 * resp)
        s.add(0.15, mean=resp, sd=0.25 * resp)


def _voip(s: _Script, d: _Draw) -> None:
    """STUN binding requests and responses, then RTP at the codec's packet size in both directions."""
    stun = d.provider("stun", 80, 160)
    s.add(1.0, mean=stun, sd=4)
    s.add(0.0, mean=stun + 12, sd=4)
    codec = d.app("codec", 70, 260)
    client = d.app("client_share", 0.35, 0.65)
    while not s.full:
        s.add(client, mean=codec, sd=0.15 * codec)


def _game_udp(s: _Script, d: _Draw) -> None:
    _conversation(s, d, sizes=(40, 260), ack=0.0)


def _dns(s: _Script, d: _Draw) -> None:
    """One query, one answer: resolvers differ little, so they are confused with each other."""
    s.add(1.0, mean=d.app("query", 60, 90), sd=8)
    s.add(0.0, mean=d.app("answer", 90, 300), sd=40)
    while not s.full:
        s.add(0.5, mean=120, sd=40)


def _vpn(s: _Script, d: _Draw) -> None:
    """WireGuard: fixed handshake sizes (148 + 28, 92 + 28 bytes), then keepalives and data."""
    s.add(1.0, mean=176, sd=0)
    s.add(0.0, mean=120, sd=0)
    data = d.app("data", 100, 1400)
    client = d.app("client_share", 0.2, 0.8)
    while not s.full:
        s.add(client, mean=data, sd=0.4 * data)


def _p2p(s: _Script, d: _Draw) -> None:
    s.add(1.0, mean=d.app("syn", 40, 60), sd=2)
    s.add(0.0, mean=d.app("state", 40, 60), sd=2)
    _conversation(s, d, sizes=(60, 1400), ack=0.0)


_FAMILIES: dict[str, Callable[[_Script, _Draw], None]] = {
    "web": _web,
    "video": _video,
    "social": _social,
    "messaging": _messaging,
    "cloud": _cloud,
    "update": _update,
    "music": _music,
    "mail": _mail,
    "api": _api,
    "conferencing": _conferencing,
    "gaming": _gaming,
    "quic": _quic,
    "voip": _voip,
    "game-udp": _game_udp,
    "dns": _dns,
    "vpn": _vpn,
    "p2p": _p2p,
}

# Early flow ends by family: (extra probability, shortest and longest early length).
_EARLY = {"api": (0.5, 3, 12), "dns": (0.97, 2, 2), "mail": (0.2, 4, 15), "web": (0.15, 4, 16)}


@dataclass(frozen=True)
class ClassTables:
    """Per-class, per-packet sampling tables [classes, packets] plus per-class flow-level knobs.

    ``kind_cdf`` [kinds - 1, classes, packets] holds the cumulative kind probabilities (the last one is 1).
    """

    client: np.ndarray
    kind_cdf: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    early: np.ndarray
    early_low: np.ndarray
    early_high: np.ndarray
    is_udp: np.ndarray


def build_tables(apps: list[tuple[str, str, str]], packets: int, rng: np.random.Generator, *, app_spread: float,
                 early_end: float) -> ClassTables:  # fmt: skip
    """Tables for ``apps`` given as (name, family, transport), drawn from ``rng``."""
    draw = _Draw(rng, app_spread)
    client, kinds, mean, sd = [], [], [], []
    early, early_low, early_high = [], [], []
    for name, family, _ in apps:
        script = _Script(packets)
        _FAMILIES[family](script, draw.for_class(name.split(".", 1)[0], family))
        client.append(script.client)
        kinds.append(script.kinds)
        mean.append(script.mean)
        sd.append(script.sd)
        extra, low, high = _EARLY.get(family, (0.0, 3, packets - 1))
        early.append(min(1.0, early_end + extra))
        early_low.append(low)
        early_high.append(high)
    kind_cdf = np.cumsum(np.asarray(kinds, dtype=np.float64), axis=-1)
    kind_cdf = np.moveaxis(kind_cdf / kind_cdf[..., -1:], -1, 0)
    return ClassTables(
        client=np.asarray(client, dtype=np.float32),
        kind_cdf=kind_cdf[:-1].astype(np.float32),
        mean=np.asarray(mean, dtype=np.float32),
        sd=np.asarray(sd, dtype=np.float32),
        early=np.asarray(early, dtype=np.float32),
        early_low=np.asarray(early_low, dtype=np.int64),
        early_high=np.asarray(early_high, dtype=np.int64),
        is_udp=np.asarray([transport == "udp" for *_, transport in apps]),
    )
