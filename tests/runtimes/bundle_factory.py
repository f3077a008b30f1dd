"""Small bundles for the runtime and parity tests: a 5-class LEXNet trained for a few steps on synthetic flows,
exported by ``lexnet.export.build.export_bundle`` exactly as ``lexnet export`` does. Needs torch and the backends'
libraries; conftest files load this module by path (the tests are not a package).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from lexnet.spec import InputSpec, ModelConfig, Scaling

# Every (backend, precision, device) the runtime and parity tests cover, with the markers each case needs; GPU
# cases skip with their reason where the device is absent. A guard test checks that this spans the registry.
CASES = [
    ("onnxruntime", "fp32", "cpu", ("onnx",)),
    ("openvino", "fp32", "cpu", ("openvino",)),
    ("openvino", "bf16", "cpu", ("openvino",)),
    ("onnxruntime", "int8", "cpu", ("onnx",)),
    ("openvino", "int8", "cpu", ("openvino",)),
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


def build_bundle(
    path: Path, checkpoint_dir: Path, backends: tuple[str, ...], precisions: tuple[str, ...] = ("fp32",)
) -> Path:
    """The checkpoint exported by lexnet.export: golden vectors, one artifact per backend x precision it builds."""
    from lexnet.export.build import ExportOptions, export_bundle

    from lexnet.checkpoint import load_checkpoint

    options = ExportOptions(
        backends=backends,
        precisions=precisions,
        data="synth",
        keep_failed=True,
        golden_flows=256,
        validation_flows=500,
        calibration_flows=256,
        threads=1,
    )
    return export_bundle(load_checkpoint(checkpoint_dir), path, options, checkpoint_path=checkpoint_dir).bundle


_CACHE: dict[tuple[Path, str], Path] = {}


def cached_bundle(root: Path, kind: str) -> tuple[Path, Path]:
    """(bundle, checkpoint) under ``root``, built once per process: kind "cpu" (ONNX Runtime FP32 + INT8 and, when
    installed, OpenVINO FP32 + BF16 + INT8) or "tvm" (FP32 on ONNX Runtime, OpenVINO and an untuned TVM library)."""
    import importlib.util

    import torch

    checkpoint = root / "checkpoint"
    if (root, "checkpoint") not in _CACHE:
        torch.set_num_threads(1)
        _CACHE[root, "checkpoint"] = build_checkpoint(checkpoint)
    openvino = ("openvino",) if importlib.util.find_spec("openvino") else ()
    if kind == "cpu" and (root, "cpu") not in _CACHE:
        _CACHE[root, "cpu"] = build_bundle(
            root / "bundle-cpu", checkpoint, ("onnxruntime", *openvino), ("fp32", "bf16", "int8")
        )
    if kind == "tvm" and (root, "tvm") not in _CACHE:
        _CACHE[root, "tvm"] = build_bundle(root / "bundle-tvm", checkpoint, ("onnxruntime", *openvino, "tvm"))
    return _CACHE[root, kind], checkpoint


def load_factory():
    """This module, imported once under a fixed name so every conftest shares its cache."""
    return sys.modules[__name__]
