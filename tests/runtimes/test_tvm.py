"""TVM specifics: the thread count configures TVM's thread pool before the library is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from lexnet.runtimes import load

pytestmark = [pytest.mark.tvm, pytest.mark.slow]


def test_threads_configure_the_thread_pool(tvm_bundle: tuple[Path, Path]) -> None:
    import tvm

    with load(tvm_bundle[0], backend="tvm", threads=1) as classifier:
        classifier.run(classifier.bundle.golden()["inputs"][:4])
        assert tvm.runtime.num_threads() == 1
