"""The router side without torch: a fresh virtual environment with numpy and the three runtimes only.

Builds the venv with pip (pinned by constraints.txt; pip's cache makes reruns fast), installs this checkout with
``--no-deps``, then classifies the test bundles in a subprocess and checks that torch was never imported.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import venv
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["numpy", "onnxruntime", "openvino", "apache-tvm", "apache-tvm-ffi"]

SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    assert importlib.util.find_spec("torch") is None, "torch is importable in the torch-free environment"
    from lexnet.runtimes import installed_backends, load
    results = {"installed": installed_backends()}
    for backend, bundle in json.loads(sys.argv[1]):
        with load(bundle, backend=backend, threads=1) as classifier:
            flows = classifier.bundle.golden()["inputs"]
            predictions = classifier.classify(flows)
            results[backend] = [[p.label, p.explanation[0].prototype] for p in predictions]
    results["torch_imported"] = "torch" in sys.modules
    print(json.dumps(results))
    """
)


def _torch_free_python(root: Path) -> Path:
    venv.create(root, with_pip=True)
    python = root / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", str(REPO / "constraints.txt"), *PACKAGES], check=True, timeout=900)
    subprocess.run([*pip, "--no-deps", "-e", str(REPO)], check=True, timeout=600)
    return python


@pytest.mark.slow
@pytest.mark.onnx
@pytest.mark.openvino
@pytest.mark.tvm
def test_classify_without_torch(tvm_bundle: tuple[Path, Path], tmp_path: Path) -> None:
    python = _torch_free_python(tmp_path / "venv")
    bundle = str(tvm_bundle[0])
    jobs = [["onnxruntime", bundle], ["openvino", bundle], ["tvm", bundle]]
    completed = subprocess.run(
        [str(python), "-c", SCRIPT, json.dumps(jobs)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    assert results["installed"] == ["onnxruntime", "openvino", "tvm"]
    assert results["torch_imported"] is False

    from lexnet.runtimes import Bundle

    golden = Bundle(bundle).golden()
    expected = golden["logits"].argmax(1).tolist()
    for backend in ("onnxruntime", "openvino", "tvm"):
        labels = [label for label, _ in results[backend]]
        assert labels == expected, f"{backend} predictions differ from the golden vectors without torch"
        assert all(np.isin([top for _, top in results[backend]], np.arange(golden["similarities"].shape[1])))
