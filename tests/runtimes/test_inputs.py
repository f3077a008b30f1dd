"""Input checks: every accepted form gives the same int16 flows; every bad input names its flow and problem."""

from __future__ import annotations

import numpy as np
import pytest
from lexnet.runtimes.errors import InvalidFlowError
from lexnet.runtimes.inputs import InputClippedWarning, prepare_flows

from lexnet.spec import InputSpec

SPEC = InputSpec()


def test_int16_array_passes_through_unchanged() -> None:
    raw = np.arange(1, 2 * SPEC.packets + 1, dtype=np.int16).reshape(2, SPEC.packets)
    raw[1] *= -1
    np.testing.assert_array_equal(prepare_flows(raw, SPEC), raw)


def test_every_form_gives_the_same_flows() -> None:
    expected = np.zeros((2, SPEC.packets), dtype=np.int16)
    expected[0, :3] = [120, -1400, 60]
    expected[1, :1] = [-70]
    as_pairs = [[(120, 1), (1400, -1), (60, 1)], [(70, -1)]]
    as_signed = [[120, -1400, 60], [-70]]
    short_array = np.array([[120, -1400, 60], [-70, 0, 0]], dtype=np.int64)
    pair_array = np.array([[[120, 1], [1400, -1], [60, 1]], [[70, -1], [0, 0], [0, 0]]])
    for flows in (as_pairs, as_signed, short_array, pair_array, short_array.astype(np.float32)):
        result = prepare_flows(flows, SPEC)
        assert result.dtype == np.int16
        np.testing.assert_array_equal(result, expected)


def test_long_packet_lists_keep_the_first_packets() -> None:
    flow = list(range(1, SPEC.packets + 6))
    np.testing.assert_array_equal(prepare_flows([flow], SPEC)[0], flow[: SPEC.packets])


def test_udp_flows_keep_udp_packets_as_in_training() -> None:
    raw = np.full((3, SPEC.packets), 100, dtype=np.int16)
    result = prepare_flows(raw, SPEC, transport=["udp", "tcp", None])
    assert (result[0, SPEC.udp_packets :] == 0).all()
    assert (result[0, : SPEC.udp_packets] == 100).all()
    np.testing.assert_array_equal(result[1:], raw[1:])
    assert (prepare_flows(raw, SPEC, transport="udp")[:, SPEC.udp_packets :] == 0).all()


def test_sizes_above_mtu_are_clipped_with_a_warning() -> None:
    raw = np.array([[SPEC.mtu + 10, -(SPEC.mtu + 500), 60], [60, 60, 60]])
    with pytest.warns(InputClippedWarning, match=r"1 flow\(s\) \(first: flow 0\)"):
        result = prepare_flows(raw, SPEC)
    assert result[0, :2].tolist() == [SPEC.mtu, -SPEC.mtu]
    assert result[1, :3].tolist() == [60, 60, 60]


@pytest.mark.parametrize(
    ("flows", "message"),
    [
        (np.array([[60.0, 70.0], [60.0, np.nan]]), r"flow 1: contains NaN"),
        (np.array([[60.0, 70.5]]), r"flow 0: packet sizes must be whole"),
        (np.array([[60, 70], [SPEC.max_abs_size + 1, 0]]), r"flow 1: packet size 65536 is beyond"),
        (np.array([[60, 70], [0, 0]]), r"flow 1: empty flow"),
        ([[60], []], r"flow 1: empty flow \(no packets\)"),
        ([[(60, 1)], [(60, 2)]], r"flow 1: direction must be \+1, -1 or 0, got 2"),
        (np.array([[[60, 1]], [[60, 3]]]), r"flow 1: direction must be \+1, -1 or 0, got 3"),
        ([[(60, 1), (-5, 1)]], r"flow 0: a \(size, direction\) packet needs a size >= 0"),
        ([[60], [(0, 1)]], r"flow 1: size and direction must both be 0"),
        ([[60], [(60, 1, 0)]], r"flow 1: packets must all be signed sizes or all \(size, direction\) pairs"),
        ([[60], [60, (60, 1)]], r"flow 1: packets must all be signed sizes or all"),
        ([[60], ["60"]], r"flow 1: packets must all be signed sizes"),
        ([[60], [(60.0, float("nan"))]], r"flow 1: contains NaN"),
        ([[60], 60], r"flow 1: a flow is a sequence of packets"),
        (np.zeros((2, SPEC.packets + 1)), r"got an array of shape \(2, 21\)"),
        (np.zeros((SPEC.packets,)), r"got an array of shape \(20,\)"),
        (np.zeros((0, SPEC.packets), dtype=np.int16), r"no flows given"),
        ("60,70", r"flows must be an array or a sequence"),
        (np.array([["a", "b"]]), r"flows must be numbers"),
    ],
)
def test_bad_input_names_the_flow_and_the_problem(flows: object, message: str) -> None:
    with pytest.raises(InvalidFlowError, match=message):
        prepare_flows(flows, SPEC)


def test_bad_transport_is_refused() -> None:
    raw = np.full((2, SPEC.packets), 60, dtype=np.int16)
    with pytest.raises(InvalidFlowError, match=r"flow 1: transport must be one of"):
        prepare_flows(raw, SPEC, transport=["udp", "sctp"])
    with pytest.raises(InvalidFlowError, match=r"transport has 1 entries for 2 flows"):
        prepare_flows(raw, SPEC, transport=["udp"])


def test_invalid_flow_error_carries_the_index() -> None:
    with pytest.raises(InvalidFlowError) as caught:
        prepare_flows([[60], [60, 70000]], SPEC)
    assert caught.value.flow_index == 1
