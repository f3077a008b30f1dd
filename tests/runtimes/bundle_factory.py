"""Small bundles for the runtime and parity tests, built from a 5-class LEXNet with seeded random weights.

The bundle is laid out exactly as ``lexnet export`` lays it out (see runtimes/manifest.py); the ONNX graph is the
plain torch.onnx export of a raw-input wrapper, opset 20, dynamic batch. Needs torch, onnx and the backends'
libraries; conftest files load this module by path.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
from lexnet.runtimes.manifest import (
    FORMAT_VERSION,
    ArtifactEntry,
    ClassEntry,
    FileEntry,
    GoldenInfo,
    InputInfo,
    Manifest,
    ModelInfo,
    PrototypesInfo,
    TuningInfo,
    checkpoint_digest,
    read_manifest,
    sha256_file,
    write_manifest,
)

from lexnet.spec import PRECISION_TOLERANCES, InputSpec, ModelConfig, Scaling

# Every (backend, precision, device) the runtime and parity tests cover, with the markers each case needs; GPU
# cases skip with their reason where the device is absent. A guard test checks that this spans the registry.
CASES = [
    ("onnxruntime", "fp32", "cpu", ("onnx",)),
    ("openvino", "fp32", "cpu", ("openvino",)),
    ("openvino", "bf16", "cpu", ("openvino",)),
    ("tvm", "fp32", "cpu", ("tvm", "slow")),
    ("torch", "fp32", "cpu", ("torch",)),
    ("onnxruntime", "fp32", "cuda", ("onnx", "gpu")),
    ("openvino", "fp32", "gpu", ("openvino",)),
    ("tvm", "fp32", "cuda", ("tvm", "gpu", "slow")),
    ("torch", "fp32", "cuda", ("torch", "gpu")),
]


def case_params() -> list:
    """CASES as pytest params with their marks, ids like "openvino-bf16-cpu"."""
    import pytest

    return [
        pytest.param(b, p, d, marks=[getattr(pytest.mark, m) for m in marks], id=f"{b}-{p}-{d}")
        for b, p, d, marks in CASES
    ]


NUM_CLASSES = 5
UDP_CLASSES = (4,)
OPSET = 20


def random_flows(count: int, seed: int, spec: InputSpec | None = None, udp_share: float = 0.3) -> np.ndarray:
    """Signed sizes [count, packets]: random lengths, sizes 40..mtu, a share of UDP-like flows (zero-padded)."""
    spec = spec or InputSpec()
    rng = np.random.default_rng(seed)
    sizes = rng.integers(40, spec.mtu + 1, size=(count, spec.packets))
    signs = rng.choice([-1, 1], size=(count, spec.packets))
    lengths = rng.integers(1, spec.packets + 1, size=count)
    udp = rng.random(count) < udp_share
    lengths[udp] = np.minimum(lengths[udp], spec.udp_packets)
    keep = np.arange(spec.packets)[None, :] < lengths[:, None]
    return (sizes * signs * keep).astype(np.int16)


def _file(bundle: Path, relative: str) -> FileEntry:
    path = bundle / relative
    return FileEntry(path=relative, sha256=sha256_file(path), size=path.stat().st_size)


def _save(bundle: Path, relative: str, array: np.ndarray) -> FileEntry:
    (bundle / relative).parent.mkdir(parents=True, exist_ok=True)
    np.save(bundle / relative, array, allow_pickle=False)
    return _file(bundle, relative)


def training_flows(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic flows of NUM_CLASSES applications (lexnet.data.synth), with their labels."""
    from lexnet.data.synth import SynthConfig, generate

    train = generate(SynthConfig(num_classes=NUM_CLASSES, train_flows=2000, test_flows=0, seed=seed))["train"]
    return train.x, train.y.astype(np.int64)


def _train_briefly(model, x: np.ndarray, y: np.ndarray, steps: int) -> None:
    """A few Adam steps on cross-entropy plus a pull of each flow's closest prototype, so features and prototypes
    separate as in a trained model (an untrained LEXNet's distances are nearly equal at every position)."""
    import torch

    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(inputs), (128,), generator=generator)
        output = model(inputs[batch])
        loss = torch.nn.functional.cross_entropy(output.logits, targets[batch])
        loss = loss + 0.1 * output.min_distances.min(dim=1).values.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def build_checkpoint(path: Path, seed: int = 0, train_steps: int = 40) -> Path:
    """A seeded 5-class LEXNet trained for a few steps on synthetic flows, saved with prototype sources."""
    import torch

    from lexnet.checkpoint import Checkpoint, PrototypeSource, save_checkpoint
    from lexnet.data.format import ClassInfo
    from lexnet.models import create_model

    torch.manual_seed(seed)
    config = ModelConfig(num_classes=NUM_CLASSES)
    model = create_model(config)
    train, labels = training_flows(seed)
    scaling = Scaling.fit(train)
    _train_briefly(model, scaling.apply(train), labels, train_steps)
    rng = np.random.default_rng(seed)
    sources = [
        PrototypeSource(
            prototype=p,
            class_index=int(c),
            flow_index=int(index),
            packet=int(rng.integers(0, config.input.packets)),
            variable=int(rng.integers(0, config.input.variables)),
            raw_flow=[int(v) for v in train[index]],
        )
        for p, (c, index) in enumerate(
            zip(config.prototype_classes(), rng.integers(0, len(train), config.num_prototypes), strict=True)
        )
    ]
    checkpoint = Checkpoint(
        config=config,
        classes=[ClassInfo(f"app{i}", "udp" if i in UDP_CLASSES else "tcp") for i in range(NUM_CLASSES)],
        scaling=scaling,
        state_dict=model.state_dict(),
        prototype_sources=sources,
    )
    return save_checkpoint(checkpoint, path)


def _export_onnx(checkpoint_dir: Path, path: Path) -> None:
    import torch

    from lexnet.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(checkpoint_dir)
    model = checkpoint.build_model()
    scaling = checkpoint.scaling

    class RawInput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, flows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            raw = flows.float()
            sizes = (raw.abs() - scaling.size_min) / (scaling.size_max - scaling.size_min)
            directions = (torch.sign(raw) - scaling.direction_min) / (scaling.direction_max - scaling.direction_min)
            output = self.model(torch.stack([sizes, directions], dim=-1).unsqueeze(1))
            return output.logits, output.similarities, output.positions

    example = torch.zeros(2, checkpoint.config.input.packets, dtype=torch.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            RawInput().eval(),
            (example,),
            str(path),
            input_names=["flows"],
            output_names=["logits", "similarities", "prototype_positions"],
            dynamic_axes={"flows": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )


def _golden(bundle: Path, checkpoint_dir: Path, flows: int) -> GoldenInfo:
    import torch

    from lexnet.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(checkpoint_dir)
    raw = random_flows(flows, seed=7, spec=checkpoint.config.input)
    with torch.inference_mode():
        out = checkpoint.build_model()(torch.from_numpy(checkpoint.scaling.apply(raw)))
    return GoldenInfo(
        inputs=_save(bundle, "golden/inputs.npy", raw),
        logits=_save(bundle, "golden/logits.npy", out.logits.numpy()),
        similarities=_save(bundle, "golden/similarities.npy", out.similarities.numpy()),
        positions=_save(bundle, "golden/positions.npy", out.positions.numpy().astype(np.int64)),
        min_distances=_save(bundle, "golden/min_distances.npy", out.min_distances.numpy()),
        tolerances={name: tol.__dict__ for name, tol in PRECISION_TOLERANCES.items()},
    )


def _onnx_artifacts(bundle: Path) -> list[ArtifactEntry]:
    entry = ArtifactEntry(
        id="onnxruntime-fp32-cpu",
        backend="onnxruntime",
        precision="fp32",
        device="cpu",
        files=[_file(bundle, "artifacts/onnxruntime-fp32-cpu/model.onnx")],
        opset=OPSET,
        tuning=TuningInfo(),
    )
    return [entry]


def _openvino_artifacts(bundle: Path, onnx_path: Path) -> list[ArtifactEntry]:
    import openvino

    model = openvino.convert_model(str(onnx_path))
    entries = []
    for precision, hint in (("fp32", "f32"), ("bf16", "bf16")):
        artifact = f"openvino-{precision}-cpu"
        openvino.save_model(model, str(bundle / f"artifacts/{artifact}/model.xml"), compress_to_fp16=False)
        files = [_file(bundle, f"artifacts/{artifact}/model.{suffix}") for suffix in ("xml", "bin")]
        entries.append(
            ArtifactEntry(
                id=artifact,
                backend="openvino",
                precision=precision,
                device="cpu",
                files=files,
                hints={"INFERENCE_PRECISION_HINT": hint},
                tuning=TuningInfo(),
            )
        )
    return entries


def build_bundle(path: Path, checkpoint_dir: Path, backends: tuple[str, ...], golden_flows: int = 256) -> Path:
    """A bundle of the checkpoint with FP32 ONNX Runtime and (if asked) OpenVINO FP32/BF16 artifacts."""
    from lexnet.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(checkpoint_dir)
    config = checkpoint.config
    path.mkdir(parents=True, exist_ok=True)
    onnx_path = path / "artifacts/onnxruntime-fp32-cpu/model.onnx"
    _export_onnx(checkpoint_dir, onnx_path)
    artifacts = _onnx_artifacts(path)
    if "openvino" in backends:
        artifacts += _openvino_artifacts(path, onnx_path)
    last_layer = checkpoint.state_dict["last_layer.weight"].numpy().T.copy()
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        created="2026-01-01T00:00:00Z",
        lexnet_version="0.1.0",
        model=ModelInfo(
            arch=config.arch,
            config=config.to_dict(),
            trainable_parameters=0,
            is_prototype_model=True,
            checkpoint_sha256=checkpoint_digest(checkpoint_dir),
        ),
        classes=[ClassEntry(name=c.name, transport=c.transport) for c in checkpoint.classes],
        input=InputInfo(
            mode="raw",
            name="flows",
            dtype="int16",
            shape=["batch", config.input.packets],
            spec=config.input.to_dict(),
            scaling=checkpoint.scaling.to_dict(),
        ),
        outputs=["logits", "similarities", "prototype_positions"],
        prototypes=PrototypesInfo(
            classes=config.prototype_classes().tolist(),
            sources=[s.to_dict() for s in checkpoint.prototype_sources],
            last_layer=_save(path, "model/last_layer.npy", last_layer),
        ),
        golden=_golden(path, checkpoint_dir, golden_flows),
        artifacts=artifacts,
    )
    write_manifest(path, manifest)
    return path


def add_tvm_artifact(bundle: Path) -> Path:
    """Compile the bundle's ONNX model with TVM Relax for the generic LLVM CPU target (untuned) and list it."""
    import onnx
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    manifest = read_manifest(bundle)
    onnx_model = onnx.load(str(bundle / "artifacts/onnxruntime-fp32-cpu/model.onnx"))
    module = from_onnx(onnx_model, keep_params_in_input=False)
    target = tvm.target.Target({"kind": "llvm"})
    with target:
        module = relax.get_pipeline("zero")(module)
    executable = relax.build(module, target=target)
    relative = "artifacts/tvm-fp32-llvm/model.so"
    (bundle / relative).parent.mkdir(parents=True, exist_ok=True)
    executable.export_library(str(bundle / relative))
    entry = ArtifactEntry(
        id="tvm-fp32-llvm",
        backend="tvm",
        precision="fp32",
        device="cpu",
        files=[_file(bundle, relative)],
        target={"kind": "llvm"},
        tuning=TuningInfo(state="untuned"),
    )
    artifacts = [a for a in manifest.artifacts if a.id != entry.id] + [entry]
    write_manifest(bundle, Manifest(**{**manifest.__dict__, "artifacts": artifacts}))
    return bundle


_CACHE: dict[tuple[Path, str], Path] = {}


def cached_bundle(root: Path, kind: str) -> tuple[Path, Path]:
    """(bundle, checkpoint) under ``root``, built once per process: kind "cpu" (ONNX Runtime + OpenVINO when
    installed) or "tvm" (the same plus an untuned TVM library)."""
    import importlib.util

    import torch

    checkpoint = root / "checkpoint"
    if (root, "checkpoint") not in _CACHE:
        torch.set_num_threads(1)
        _CACHE[root, "checkpoint"] = build_checkpoint(checkpoint)
    if (root, "cpu") not in _CACHE:
        backends = ("onnxruntime", "openvino") if importlib.util.find_spec("openvino") else ("onnxruntime",)
        _CACHE[root, "cpu"] = build_bundle(root / "bundle-cpu", checkpoint, backends)
    if kind == "tvm" and (root, "tvm") not in _CACHE:
        shutil.copytree(_CACHE[root, "cpu"], root / "bundle-tvm")
        _CACHE[root, "tvm"] = add_tvm_artifact(root / "bundle-tvm")
    return _CACHE[root, kind], checkpoint


def load_factory():
    """This module, imported once under a fixed name so every conftest shares its cache."""
    return sys.modules[__name__]
