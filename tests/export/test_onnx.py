"""ONNX export: every zoo model, both input modes, the hand-written head and its tie rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.torch, pytest.mark.onnx]

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from lexnet.models import list_models  # noqa: E402


def _checkpoint(arch: str, seed: int = 0):  # type: ignore[no-untyped-def]
    from lexnet.checkpoint import Checkpoint
    from lexnet.data.format import ClassInfo
    from lexnet.models import create_model
    from lexnet.spec import ModelConfig, Scaling

    torch.manual_seed(seed)
    config = ModelConfig(arch=arch, num_classes=4)
    model = create_model(config).eval()
    raw = np.random.default_rng(seed).integers(-1500, 1501, (64, config.input.packets)).astype(np.int16)
    return Checkpoint(config, [ClassInfo(f"app{i}") for i in range(4)], Scaling.fit(raw), model.state_dict()), raw


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("arch", list_models())
def test_every_zoo_model_exports_and_matches_pytorch(arch: str) -> None:
    from lexnet.export.onnx import MIN_OPSET, build_onnx_model, opset_of

    from lexnet.models import is_prototype_model

    checkpoint, raw = _checkpoint(arch)
    proto = build_onnx_model(checkpoint, "raw")
    onnx.checker.check_model(proto, full_check=True)

    assert opset_of(proto) >= MIN_OPSET
    assert [i.name for i in proto.graph.input] == ["flows"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    model = checkpoint.build_model()
    with torch.no_grad():
        expected = model(torch.from_numpy(checkpoint.scaling.apply(raw)))
    outputs = _session(proto).run(None, {"flows": raw})
    if not is_prototype_model(model):
        assert [o.name for o in proto.graph.output] == ["logits"]
        np.testing.assert_allclose(outputs[0], expected.numpy(), atol=1e-4, rtol=0)
        return
    assert [o.name for o in proto.graph.output] == ["logits", "similarities", "prototype_positions"]
    logits, similarities, positions = outputs
    assert positions.dtype == np.int64
    assert positions.shape == (len(raw), model.config.num_prototypes, 2)
    np.testing.assert_allclose(logits, expected.logits.numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(similarities, expected.similarities.numpy(), atol=1e-4, rtol=0)
    _assert_positions_equal_outside_ties(model, checkpoint.scaling.apply(raw), positions, expected.positions.numpy())


def _assert_positions_equal_outside_ties(model, x, got, expected) -> None:  # type: ignore[no-untyped-def]
    """Where positions differ, the reference's distances there must tie (ProtoPNet's log rounds near-equal
    distances to equal similarities, so its own argmax may pick either)."""
    with torch.no_grad():
        maps = model.prototype_layer.distance_map(model.features(torch.from_numpy(x))).numpy()
    flows, prototypes = np.nonzero((got != expected).any(axis=-1))
    at_got = maps[flows, prototypes, got[flows, prototypes, 0], got[flows, prototypes, 1]]
    at_expected = maps[flows, prototypes, expected[flows, prototypes, 0], expected[flows, prototypes, 1]]
    np.testing.assert_allclose(at_got, at_expected, rtol=1e-4, atol=1e-5)
    assert len(flows) <= 0.01 * got[..., 0].size


def test_raw_and_scaled_inputs_agree(tmp_path: Path) -> None:
    from lexnet.export.onnx import export_onnx

    checkpoint, raw = _checkpoint("lexnet", seed=1)
    raw_graph = export_onnx(checkpoint, tmp_path / "raw.onnx", input_mode="raw")
    scaled_graph = export_onnx(checkpoint, tmp_path / "scaled.onnx", input_mode="scaled")

    from_raw = _session(onnx.load(raw_graph.path)).run(None, {"flows": raw})
    from_scaled = _session(onnx.load(scaled_graph.path)).run(None, {"x": checkpoint.scaling.apply(raw)})
    assert scaled_graph.input_name == "x"
    assert raw_graph.input_name == "flows"
    np.testing.assert_allclose(from_raw[0], from_scaled[0], atol=1e-5, rtol=0)
    np.testing.assert_array_equal(from_raw[2], from_scaled[2])


def test_head_is_one_matmul_with_first_minimum_argmin() -> None:
    from lexnet.export._graph import head_node_names
    from lexnet.export.onnx import build_onnx_model

    checkpoint, _ = _checkpoint("lexnet")
    proto = build_onnx_model(checkpoint)
    names = set(head_node_names(proto))
    head = [n for n in proto.graph.node if n.name in names]
    ops = [n.op_type for n in head]

    assert "Conv" not in ops
    assert ops.count("MatMul") == 2  # the distances, then the last layer
    assert ops.count("Log") == 1  # after the minimum: one log per prototype
    (argmin,) = [n for n in head if n.op_type == "ArgMin"]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in argmin.attribute}
    assert attributes["select_last_index"] == 0
    assert attributes["axis"] == 2


def _head_only(depth: int, positions: int, prototypes: int, classes: int, layout: str) -> onnx.ModelProto:
    """An identity 'backbone' [batch, depth, positions] with the prototype head on top, in ``layout``."""
    from lexnet.export._graph import HeadWeights, append_prototype_head
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["features"], ["patches"])],
        "head",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", depth, positions])],
        [helper.make_tensor_value_info("patches", TensorProto.FLOAT, ["batch", depth, positions])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    rng = np.random.default_rng(0)
    weights = HeadWeights(
        prototypes=rng.random((prototypes, depth), dtype=np.float32),
        last_layer=rng.random((classes, prototypes), dtype=np.float32),
        map_width=2,
        epsilon=1e-4,
        map_height=positions // 2,
    )
    append_prototype_head(model, "patches", weights, layout)
    onnx.checker.check_model(model, full_check=True)
    return model


def test_head_layouts_agree_with_a_direct_computation() -> None:
    """Both layouts give the direct minimum distance's similarity, the first best position and the logits."""
    depth, positions, prototypes, classes = 8, 40, 12, 3
    features = np.random.default_rng(1).random((5, depth, positions), dtype=np.float32)
    first = _head_only(depth, positions, prototypes, classes, "prototypes-first")
    prototype_vectors = onnx.numpy_helper.to_array(
        next(i for i in first.graph.initializer if i.name == "head/prototypes")
    )
    distances = ((features.transpose(0, 2, 1)[:, None] - prototype_vectors[None, :, None]) ** 2).sum(-1)
    best = distances.argmin(axis=2)
    expected_similarity = np.log((distances.min(axis=2) + 1) / (distances.min(axis=2) + 1e-4))
    for layout in ("prototypes-first", "positions-first"):
        _, similarities, found = _session(_head_only(depth, positions, prototypes, classes, layout)).run(
            None, {"features": features}
        )
        np.testing.assert_allclose(similarities, expected_similarity, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(found, np.stack([best // 2, best % 2], axis=-1))


def test_an_unknown_head_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown head layout"):
        _head_only(3, 6, 4, 2, "sideways")


@pytest.mark.parametrize("layout", ["prototypes-first", "positions-first"])
def test_ties_take_the_first_position(layout: str) -> None:
    """Identical feature vectors at several positions tie exactly; the head must report the first one."""
    depth, positions, prototypes, classes = 3, 6, 4, 2
    model = _head_only(depth, positions, prototypes, classes, layout)
    column = np.random.default_rng(5).random(depth, dtype=np.float32)
    features = np.repeat(column[None, :, None], positions, axis=2)  # every position identical

    _, _, found = _session(model).run(None, {"features": features})
    np.testing.assert_array_equal(found, np.zeros((1, prototypes, 2), dtype=np.int64))
