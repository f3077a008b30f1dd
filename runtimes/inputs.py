"""Turning what a caller passes in into the model's raw input: int16 signed sizes [N, packets], checked.

Accepted forms:

- an integer (or integral float) array [N, k] of signed sizes, k <= packets (+ client to server, - server to
  client, 0 = no packet), as in the data format; shorter rows are zero-padded;
- an array [N, k, 2] of (size, direction) pairs;
- a sequence of flows, each a sequence of packets given either as a signed size or as a (size, direction) pair;
  flows longer than ``packets`` keep their first ``packets`` packets (the model sees nothing more), shorter ones
  are zero-padded.

The transport of a flow is not in its sizes. ``transport`` ("tcp", "udp", or one of them per flow, ``None`` for
unknown) lets a caller say which flows are UDP: those keep their first ``udp_packets`` packets and are
zero-padded beyond, exactly as the training data was built. Unknown transport leaves the flow as given, which is
right for flows read from the data format or from ``lexnet.data.pcap`` (both already apply the UDP rule).

Sizes above the MTU but within ``max_abs_size`` are clipped to the MTU, as captures are when the training data is
read, and an ``InputClippedWarning`` says how many flows were affected; larger sizes, NaN, directions other than
+1/-1/0 and empty flows raise ``InvalidFlowError`` naming the first offending flow.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from lexnet.runtimes.errors import InvalidFlowError

from lexnet.spec import InputSpec

__all__ = ["TRANSPORTS", "InputClippedWarning", "prepare_flows"]

logger = logging.getLogger(__name__)

TRANSPORTS = ("tcp", "udp")


class InputClippedWarning(UserWarning):
    """Some packet sizes exceeded the MTU and were clipped to it."""


def _first(mask: np.ndarray) -> int:
    """Index of the first flow (row) where ``mask`` holds anywhere."""
    return int(np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))[0])


def _check_finite_integral(values: np.ndarray) -> None:
    if np.issubdtype(values.dtype, np.integer) or values.size == 0:
        return
    if not np.issubdtype(values.dtype, np.floating):
        raise InvalidFlowError(f"flows must be numbers, got an array of {values.dtype}")
    if (bad := ~np.isfinite(values)).any():
        raise InvalidFlowError("contains NaN or infinity", _first(bad))
    if (bad := values != np.round(values)).any():
        raise InvalidFlowError("packet sizes must be whole numbers of bytes", _first(bad))


def _from_pairs(pairs: np.ndarray) -> np.ndarray:
    """[N, k, 2] (size, direction) -> [N, k] signed sizes, checking directions and sizes."""
    _check_finite_integral(pairs)
    sizes, directions = pairs[..., 0].astype(np.int64), pairs[..., 1].astype(np.int64)
    if (bad := ~np.isin(directions, (-1, 0, 1))).any():
        flow = _first(bad)
        raise InvalidFlowError(f"direction must be +1, -1 or 0, got {directions[flow][bad[flow]][0]}", flow)
    if (bad := sizes < 0).any():
        raise InvalidFlowError(
            "a (size, direction) packet needs a size >= 0; the sign goes in the direction", _first(bad)
        )
    if (bad := (directions == 0) != (sizes == 0)).any():
        raise InvalidFlowError(
            "size and direction must both be 0 (no packet) or both non-zero (0 bytes means no packet)", _first(bad)
        )
    return sizes * directions


def _flow_to_signed(flow: Any, index: int, packets: int) -> np.ndarray:
    """One flow's first ``packets`` packets (signed sizes, or (size, direction) pairs) -> float64 signed sizes."""
    if isinstance(flow, (str, bytes)) or not isinstance(flow, (Sequence, np.ndarray)):
        raise InvalidFlowError(f"a flow is a sequence of packets, got {type(flow).__name__}", index)
    if len(flow) == 0:
        raise InvalidFlowError("empty flow (no packets)", index)
    try:
        values = np.asarray(list(flow)[:packets])
    except (TypeError, ValueError):  # ragged: sizes mixed with pairs, or pairs of different lengths
        values = None
    if values is None or values.dtype.kind not in "iuf":
        raise InvalidFlowError("packets must all be signed sizes or all (size, direction) pairs of numbers", index)
    values = values.astype(np.float64)
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 2)):
        raise InvalidFlowError("packets must all be signed sizes or all (size, direction) pairs", index)
    if values.ndim == 1:
        return values
    try:
        return _from_pairs(values[None]).astype(np.float64)[0]
    except InvalidFlowError as error:
        raise InvalidFlowError(str(error).removeprefix("flow 0: "), index) from None


def _from_sequences(flows: Sequence[Any], packets: int) -> np.ndarray:
    """Per-flow packet lists -> [N, packets] float64 signed sizes (checked further by the caller)."""
    raw = np.zeros((len(flows), packets), dtype=np.float64)
    for index, flow in enumerate(flows):
        values = _flow_to_signed(flow, index, packets)
        raw[index, : len(values)] = values
    return raw


def _as_signed_array(flows: Any, packets: int) -> np.ndarray:
    """Any accepted form -> [N, packets] signed sizes (int64 or float64), padded."""
    if isinstance(flows, np.ndarray):
        if flows.ndim == 3 and flows.shape[-1] == 2:
            flows = _from_pairs(flows)
        if flows.ndim != 2 or not 1 <= flows.shape[1] <= packets:
            raise InvalidFlowError(
                f"expected signed sizes [N, k] with 1 <= k <= {packets} or (size, direction) pairs [N, k, 2],"
                f" got an array of shape {flows.shape}"
            )
        if flows.shape[1] < packets:
            flows = np.pad(flows, ((0, 0), (0, packets - flows.shape[1])))
        return flows
    if isinstance(flows, Sequence) and not isinstance(flows, (str, bytes)):
        return _from_sequences(flows, packets)
    raise InvalidFlowError(f"flows must be an array or a sequence of flows, got {type(flows).__name__}")


def _transports(transport: str | Sequence[str | None] | None, count: int) -> np.ndarray | None:
    """Boolean mask of UDP flows, or None when no transport was given."""
    if transport is None:
        return None
    if isinstance(transport, str):
        transport = [transport] * count
    if len(transport) != count:
        raise InvalidFlowError(f"transport has {len(transport)} entries for {count} flows")
    for index, value in enumerate(transport):
        if value is not None and value not in TRANSPORTS:
            raise InvalidFlowError(f"transport must be one of {TRANSPORTS} or None, got {value!r}", index)
    return np.array([value == "udp" for value in transport], dtype=bool)


def _check_sizes(raw: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Refuse sizes beyond the format's range and empty flows; clip sizes above the MTU with a warning."""
    if np.issubdtype(raw.dtype, np.integer) and np.iinfo(raw.dtype).max <= spec.max_abs_size:
        pass  # int16 cannot exceed the format's limit: skip a pass over the data on the fast path
    elif (bad := (raw > spec.max_abs_size) | (raw < -spec.max_abs_size)).any():
        flow = _first(bad)
        value = raw[flow][bad[flow]][0]
        raise InvalidFlowError(f"packet size {value:g} is beyond the format's limit of +-{spec.max_abs_size}", flow)
    if (empty := ~raw.any(axis=1)).any():
        raise InvalidFlowError("empty flow (every packet size is 0)", int(np.flatnonzero(empty)[0]))
    if (over := (raw > spec.mtu) | (raw < -spec.mtu)).any():
        flows = np.flatnonzero(over.any(axis=1))
        warnings.warn(
            f"{len(flows)} flow(s) (first: flow {flows[0]}) have packet sizes above the MTU of {spec.mtu} bytes;"
            f" they were clipped to {spec.mtu}, as training data read from captures is",
            InputClippedWarning,
            stacklevel=3,
        )
        raw = np.clip(raw, -spec.mtu, spec.mtu)
    return raw


def prepare_flows(flows: Any, spec: InputSpec, transport: str | Sequence[str | None] | None = None) -> np.ndarray:
    """The model's raw input, int16 [N, packets], from any accepted form (see the module docstring).

    Example:
        >>> prepare_flows([[(120, 1), (1400, -1)], [-60, 60, 0]], InputSpec()).shape
        (2, 20)

    Raises:
        InvalidFlowError: naming the first flow that is malformed and what is wrong with it.
    """
    if isinstance(flows, np.ndarray) and flows.dtype == np.int16 and flows.shape[1:] == (spec.packets,):
        raw = flows
    else:
        raw = _as_signed_array(flows, spec.packets)
    if len(raw) == 0:
        raise InvalidFlowError("no flows given")
    _check_finite_integral(raw)
    raw = _check_sizes(raw, spec)
    udp = _transports(transport, len(raw))
    if udp is not None and udp.any():
        raw = raw.copy()
        raw[udp, spec.udp_packets :] = 0
    return np.ascontiguousarray(raw, dtype=np.int16)
