from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lexnet.models import TABLE3_MODELS, count_parameters, create_model, list_models  # noqa: E402
from lexnet.models.table3 import BACKEND_LIMITS, backend_limit  # noqa: E402
from lexnet.models.table3._layers import keras_same_conv  # noqa: E402
from lexnet.models.table3.condensenet import LearnedGroupConv  # noqa: E402
from lexnet.models.table3.shufflenet import ChannelShuffle  # noqa: E402
from lexnet.spec import ModelConfig  # noqa: E402

pytestmark = pytest.mark.torch

PAPER_CLASSES = 203
TARGET_PARAMETERS = 300_000
PARAMETER_TOLERANCE = 0.10
PARITY_ATOL = 1e-4
BACKENDS = ("onnxruntime", "openvino", "tvm", "tvm-untuned")
# The TorchScript exporter is fast, so most files come from it. The channel shuffle's reshapes come out of it as
# shape arithmetic that TVM Relax's importer rejects; the dynamo exporter (the one lexnet.export uses) writes them
# with a static shape, so ShuffleNetV2 takes that slower path.
DYNAMO_EXPORT = ("shufflenetv2",)


def _model(arch: str, seed: int = 0, **config: object) -> torch.nn.Module:
    """A model in eval mode whose BatchNorm statistics are random, so that parity compares non-trivial logits."""
    torch.manual_seed(seed)
    model = create_model(ModelConfig(arch=arch, **config))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                shape = module.running_mean.shape
                module.running_mean.copy_(torch.randn(shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(shape, generator=generator) + 0.5)
    return model.eval()


def _flows(batch: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, *ModelConfig().input.shape), dtype=np.float32)


def _export(model: torch.nn.Module, path: Path, dynamo: bool = False) -> Path:
    """ONNX at opset 20 with a dynamic batch axis, exported from a batch of 2."""
    example = torch.from_numpy(_flows(2))
    with warnings.catch_warnings():
        # Both exporters report progress and deprecations through warnings; none concerns these models.
        warnings.simplefilter("ignore")
        if dynamo:
            batch = torch.export.Dim("batch", min=1, max=1 << 20)
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                input_names=["x"],
                output_names=["logits"],
                opset_version=20,
                dynamic_shapes={"x": {0: batch}},
                verbose=False,
            )
            program.save(str(path))
        else:
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=False,
                input_names=["x"],
                output_names=["logits"],
                opset_version=20,
                dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
            )
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray]]:
    """Per arch (exported on first use): its ONNX file and PyTorch's logits on ``_flows(5)``."""
    folder = tmp_path_factory.mktemp("table3")

    class _Lazy(dict):
        def __missing__(self, arch: str) -> tuple[Path, np.ndarray]:
            model = _model(arch)
            with torch.no_grad():
                reference = model(torch.from_numpy(_flows(5))).numpy()
            self[arch] = (_export(model, folder / f"{arch}.onnx", dynamo=arch in DYNAMO_EXPORT), reference)
            return self[arch]

    return _Lazy()


def test_table3_lists_ten_registered_models_in_the_papers_order() -> None:
    assert len(TABLE3_MODELS) == len(set(TABLE3_MODELS)) == 10
    assert set(TABLE3_MODELS) <= set(list_models())
    assert TABLE3_MODELS[:2] == ("cnn1d", "resnet")
    assert TABLE3_MODELS[-1] == "efficientnet"


# Exact counts of the default widths: checkpoints store ``options={}``, so a silent change of a family's defaults
# would break every shipped checkpoint of it. Change a default only together with this table and the checkpoints.
EXPECTED_PARAMETERS = {
    "cnn1d": 299_595,
    "resnet": 306_691,
    "mobilenetv3": 301_571,
    "shufflenetv2": 295_355,
    "condensenetv2": 309_483,
    "densenet": 310_322,
    "mlstm_fcn": 304_739,
    "xcm": 297_229,
    "ghostnet": 300_461,
    "efficientnet": 308_663,
}


@pytest.mark.parametrize("arch", TABLE3_MODELS)
def test_parameter_count_is_300k_within_ten_percent(arch: str) -> None:
    count = count_parameters(create_model(ModelConfig(arch=arch, num_classes=PAPER_CLASSES)))
    assert abs(count - TARGET_PARAMETERS) <= PARAMETER_TOLERANCE * TARGET_PARAMETERS, count
    assert count == EXPECTED_PARAMETERS[arch]


@pytest.mark.parametrize("arch", TABLE3_MODELS)
def test_training_step_reaches_every_parameter_through_full_backward_hooks(arch: str) -> None:
    # Full backward hooks on every leaf module, as post-hoc explainers install them, fail on in-place updates.
    torch.manual_seed(0)
    model = create_model(ModelConfig(arch=arch, num_classes=5)).train()
    assert not [name for name, module in model.named_modules() if getattr(module, "inplace", False)]
    seen: list[str] = []
    for name, module in model.named_modules():
        if not list(module.children()):
            module.register_full_backward_hook(lambda *_, name=name: seen.append(name))
    # Gradients flow to the input too, as attribution methods need them.
    flows = torch.rand(4, *ModelConfig().input.shape, requires_grad=True)
    logits = model(flows)
    assert logits.shape == (4, 5)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    assert seen
    assert flows.grad is not None
    assert torch.isfinite(flows.grad).all()
    assert [name for name, p in model.named_parameters() if p.grad is None] == []


def test_options_override_defaults_and_survive_a_json_round_trip() -> None:
    config = ModelConfig(arch="mobilenetv3", options={"width": 0.5, "dropout": 0.1})
    again = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    wider = count_parameters(create_model(config))
    assert wider > count_parameters(create_model(ModelConfig(arch="mobilenetv3")))
    assert count_parameters(create_model(again)) == wider
    densenet = ModelConfig.from_dict(json.loads(json.dumps(ModelConfig(arch="densenet").to_dict())))
    assert densenet.options == {}
    custom = ModelConfig(arch="densenet", options={"block_layers": [2, 2]})
    assert count_parameters(create_model(custom)) < count_parameters(create_model(densenet))


def test_channel_shuffle_interleaves_the_two_halves() -> None:
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert ChannelShuffle(6, groups=2)(x).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert ChannelShuffle(6, groups=3)(x).flatten().tolist() == [0, 2, 4, 1, 3, 5]


@pytest.mark.parametrize("kernel", [3, 4, 8])
def test_keras_same_padding_puts_an_even_kernels_extra_step_after(kernel: int) -> None:
    torch.manual_seed(0)
    conv = keras_same_conv(torch.nn.Conv1d, 2, 3, kernel)
    series = torch.rand(1, 2, 20)
    before = (kernel - 1) // 2  # Keras: the extra padding of an even kernel goes after the series
    padded = torch.nn.functional.pad(series, (before, kernel - 1 - before))
    layer = conv if isinstance(conv, torch.nn.Conv1d) else conv[0]
    expected = torch.nn.functional.conv1d(padded, layer.weight, layer.bias)
    torch.testing.assert_close(conv(series), expected)
    assert conv(series).shape == (1, 3, 20)


def test_an_unknown_option_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown options \['widht'\] for arch 'ghostnet'; accepted: .*'width'"):
        create_model(ModelConfig(arch="ghostnet", options={"widht": 0.3}))


def test_condensation_keeps_one_connection_in_condense_factor_per_group() -> None:
    model = _model("condensenetv2")
    layers = [m for m in model.modules() if isinstance(m, LearnedGroupConv)]
    assert all(float(layer.mask.mean()) == 1.0 for layer in layers)
    model.set_progress(0.2)
    partly = [float(layer.mask.mean()) for layer in layers]
    model.set_progress(1.0)
    for layer, before in zip(layers, partly, strict=True):
        mask = layer.mask[:, :, 0, 0].t() if layer.transposed else layer.mask[:, :, 0, 0]
        # Each group keeps the same 1 / condense_factor of the pruned axis for all its members.
        for group in range(layer.groups):
            rows = mask[group :: layer.groups]
            assert torch.equal(rows, rows[:1].expand_as(rows))
            assert int(rows[0].sum()) == mask.shape[1] // layer.condense_factor
        assert 1.0 > before > float(layer.mask.mean())
    logits = model(torch.from_numpy(_flows(3)))
    assert torch.isfinite(logits).all()
    with pytest.raises(ValueError, match=r"progress must be in \[0, 1\], got 1.5"):
        model.set_progress(1.5)


@pytest.mark.onnx
@pytest.mark.parametrize("arch", TABLE3_MODELS)
def test_onnx_runtime_matches_pytorch(arch: str, exported: dict[str, tuple[Path, np.ndarray]]) -> None:
    import onnxruntime as ort

    path, reference = exported[arch]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"x": _flows(5)})
    assert np.abs(reference).max() > 1e-2  # the comparison below is not between near-zero outputs
    np.testing.assert_allclose(logits, reference, rtol=0, atol=PARITY_ATOL)


@pytest.mark.onnx
@pytest.mark.parametrize("arch", ["mlstm_fcn"])
def test_dynamo_export_matches_pytorch(arch: str, tmp_path: Path) -> None:
    # The project's exporter takes the dynamo path (slow here, so one case): the LSTM is the riskiest operator.
    import onnxruntime as ort

    model = _model(arch)
    path = _export(model, tmp_path / f"{arch}.onnx", dynamo=True)
    (logits,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": _flows(7)})
    with torch.no_grad():
        reference = model(torch.from_numpy(_flows(7))).numpy()
    np.testing.assert_allclose(logits, reference, rtol=0, atol=PARITY_ATOL)


@pytest.mark.onnx
@pytest.mark.openvino
@pytest.mark.parametrize("arch", TABLE3_MODELS)
def test_openvino_runs_the_onnx_file_in_f32(arch: str, exported: dict[str, tuple[Path, np.ndarray]]) -> None:
    import openvino as ov

    assert backend_limit(arch, "openvino") is None
    path, reference = exported[arch]
    core = ov.Core()
    graph = core.read_model(str(path))
    graph.reshape([5, *ModelConfig().input.shape])
    # f32 explicitly: the CPU plugin would otherwise run bf16 on CPUs that have it.
    compiled = core.compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(compiled(_flows(5))[0], reference, rtol=0, atol=PARITY_ATOL)


@pytest.mark.onnx
@pytest.mark.tvm
@pytest.mark.parametrize("arch", [arch for arch in TABLE3_MODELS if backend_limit(arch, "tvm") is None])
def test_tvm_relax_imports_every_operator(arch: str, exported: dict[str, tuple[Path, np.ndarray]]) -> None:
    import onnx
    from tvm.relax.frontend.onnx import from_onnx

    path, _ = exported[arch]
    module = from_onnx(onnx.load(str(path)), shape_dict={"x": [5, *ModelConfig().input.shape]})
    assert "main" in [global_var.name_hint for global_var in module.get_global_vars()]


@pytest.mark.onnx
@pytest.mark.tvm
@pytest.mark.parametrize("arch", ["cnn1d", "xcm"])
def test_tvm_relax_untuned_build_matches_pytorch(arch: str, exported: dict[str, tuple[Path, np.ndarray]]) -> None:
    import onnx
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    path, reference = exported[arch]
    module = from_onnx(onnx.load(str(path)), shape_dict={"x": [5, *ModelConfig().input.shape]})
    executable = tvm.compile(module, target=tvm.target.Target({"kind": "llvm"}))
    machine = relax.VirtualMachine(executable, tvm.cpu())
    logits = machine["main"](tvm.runtime.tensor(_flows(5))).numpy()
    np.testing.assert_allclose(logits, reference, rtol=0, atol=PARITY_ATOL)


def test_backend_limits_name_table3_models_and_known_backends() -> None:
    for arch, backend in BACKEND_LIMITS:
        assert arch in TABLE3_MODELS
        assert backend in BACKENDS
    assert backend_limit("cnn1d", "tvm") is None


@pytest.mark.onnx
@pytest.mark.tvm
@pytest.mark.parametrize(("arch", "backend"), sorted(k for k in BACKEND_LIMITS if k[1].startswith("tvm")))
def test_tvm_limit_reproduces(arch: str, backend: str, exported: dict[str, tuple[Path, np.ndarray]]) -> None:
    import onnx
    from tvm.error import OpNotImplemented
    from tvm.relax.frontend.onnx import from_onnx

    assert "LSTM" in BACKEND_LIMITS[(arch, backend)]
    path, _ = exported[arch]
    with pytest.raises(OpNotImplemented, match=r"not supported for frontend ONNX: LSTM"):
        from_onnx(onnx.load(str(path)), shape_dict={"x": [5, *ModelConfig().input.shape]})
