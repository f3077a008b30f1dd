from __future__ import annotations

import numpy as np
import torch

from lexnet.models import create_model
from lexnet.spec import ModelConfig, Scaling
from lexnet.train.push import push_prototypes


def _model(classes: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(ModelConfig(arch="lexnet", num_classes=classes, widths=(4, 8))).eval()


def test_push_sets_prototypes_to_nearest_own_class_feature_vectors(splits) -> None:
    data = splits["train"]
    model = _model(3)
    inputs = torch.from_numpy(Scaling.fit(data.x).apply(data.x))
    labels = torch.from_numpy(data.y)
    with torch.no_grad():
        features = model.features(inputs)  # [N, depth, packets, variables]
        before = model.prototype_layer.distance_map(features).flatten(2)  # [N, P, positions]

    sources = push_prototypes(model, inputs, labels, data.x, batch_size=7)  # batches split the flows unevenly

    prototypes = model.prototype_layer.prototypes.detach()
    for source in sources:
        assert source.class_index == int(model.prototype_class[source.prototype])
        assert data.y[source.flow_index] == source.class_index
        vector = features[source.flow_index, :, source.packet, source.variable]
        assert torch.equal(prototypes[source.prototype, :, 0, 0], vector)
        assert source.raw_flow == data.x[source.flow_index].tolist()
        # The chosen patch is the nearest among all flows of the class (first one on ties).
        own = torch.nonzero(labels == source.class_index).flatten()
        distances = before[own, source.prototype]
        flat_best = int(torch.argmin(distances.flatten()))
        flow, position = divmod(flat_best, distances.shape[1])
        assert int(own[flow]) == source.flow_index
        assert divmod(position, features.shape[-1]) == (source.packet, source.variable)


def test_push_leaves_prototypes_of_absent_classes_alone(splits) -> None:
    data = splits["train"]
    model = _model(4)  # class 3 has no flow
    inputs = torch.from_numpy(Scaling.fit(data.x).apply(data.x))
    before = model.prototype_layer.prototypes.detach().clone()
    sources = push_prototypes(model, inputs, torch.from_numpy(data.y), data.x, batch_size=16)
    absent = [s for s in sources if s.class_index == 3]
    assert [s.flow_index for s in absent] == [-1, -1]
    assert torch.equal(model.prototype_layer.prototypes[6:].detach(), before[6:])
    assert not torch.equal(model.prototype_layer.prototypes[:6].detach(), before[:6])
    assert all(np.all(data.y[s.flow_index] == s.class_index) for s in sources if s.flow_index >= 0)
