from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from lexnet.models.prototypes import LProto, ProtoPNetPrototypes, log_similarity  # noqa: E402

pytestmark = pytest.mark.torch


def _layer(cls: type, prototypes: torch.Tensor, shape: tuple[int, int] = (1, 1)) -> torch.nn.Module:
    layer = cls(prototypes.shape[0], prototypes.shape[1], shape)
    with torch.no_grad():
        layer.prototypes.copy_(prototypes)
    return layer


def test_positions_are_packet_and_variable_of_the_nearest_vector() -> None:
    features = torch.zeros(1, 3, 20, 2)
    features[0, :, 7, 1] = torch.tensor([1.0, 2.0, 3.0])
    layer = _layer(LProto, torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1))
    similarities, positions, min_distances = layer(features)
    assert positions.tolist() == [[[7, 1]]]
    assert min_distances.item() == pytest.approx(0.0, abs=1e-6)
    assert similarities.item() == pytest.approx(torch.log(torch.tensor(1 / 1e-4)).item(), rel=1e-4)


def test_ties_report_the_first_minimum() -> None:
    # Zero-padded UDP flows give identical feature vectors at many positions: the first one wins.
    features = torch.full((1, 2, 20, 2), 0.5)
    layer = _layer(LProto, torch.tensor([[0.5, 0.5]]).view(1, 2, 1, 1))
    _, positions, _ = layer(features)
    assert positions.tolist() == [[[0, 0]]]
    features[0, :, 12:, :] = 0.25
    layer = _layer(LProto, torch.tensor([[0.25, 0.25]]).view(1, 2, 1, 1))
    _, positions, _ = layer(features)
    assert positions.tolist() == [[[12, 0]]]


def test_lproto_equals_protopnet_order() -> None:
    torch.manual_seed(0)
    features = torch.rand(8, 4, 20, 2)
    prototypes = torch.rand(6, 4, 1, 1)
    a = _layer(LProto, prototypes)(features)
    b = _layer(ProtoPNetPrototypes, prototypes)(features)
    torch.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-5)
    assert torch.equal(a[1], b[1])


def test_distance_by_expansion_matches_direct_distance() -> None:
    torch.manual_seed(1)
    features = torch.rand(3, 5, 20, 2)
    prototypes = torch.rand(4, 5, 2, 2)
    layer = _layer(LProto, prototypes, (2, 2))
    got = layer.distance_map(features)
    patches = features.unfold(2, 2, 1).unfold(3, 2, 1)  # [B, D, 19, 1, 2, 2]
    direct = ((patches.unsqueeze(1) - prototypes.view(1, 4, 5, 1, 1, 2, 2)) ** 2).sum(dim=(2, 5, 6))
    torch.testing.assert_close(got, direct, rtol=1e-4, atol=1e-5)


def test_similarity_is_monotonic_decreasing() -> None:
    d = torch.tensor([0.0, 0.1, 1.0, 10.0])
    s = log_similarity(d)
    assert torch.all(s[1:] < s[:-1])


def test_winning_distance_is_exact_where_the_expansion_cancels() -> None:
    # A prototype equal to a feature vector of large norm: the expansion leaves rounding noise of ~1e-5, which the
    # similarity's log would amplify ~1e4 times; the direct recomputation gives exactly 0.
    torch.manual_seed(2)
    features = torch.rand(2, 32, 20, 2) * 0.5 + 0.5
    prototypes = features[0, :, 3, 1].clone().view(1, 32, 1, 1)
    _, positions, min_distances = _layer(LProto, prototypes)(features)
    assert positions[0, 0].tolist() == [3, 1]
    assert min_distances[0, 0].item() == 0.0


@pytest.mark.parametrize("shape", [(1, 1), (2, 1), (3, 2)])
def test_winning_distance_equals_the_minimum_of_the_map(shape: tuple[int, int]) -> None:
    torch.manual_seed(3)
    features = torch.rand(4, 6, 20, 2)
    layer = _layer(LProto, torch.rand(5, 6, *shape), shape)
    _, _, min_distances = layer(features)
    torch.testing.assert_close(min_distances, layer.distance_map(features).flatten(2).amin(dim=2), rtol=1e-4, atol=1e-5)
