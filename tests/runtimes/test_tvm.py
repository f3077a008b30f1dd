"""TVM specifics: the thread count configures TVM's thread pool before the library is loaded, and leaves the
calling thread free to run on every core it could before."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lexnet.runtimes import load

pytestmark = [pytest.mark.tvm, pytest.mark.slow]

# Taken at collection, before any TVM session in this process could have narrowed it.
_AFFINITY_AT_START = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()


def test_threads_configure_the_thread_pool(tvm_bundle: tuple[Path, Path]) -> None:
    import tvm

    with load(tvm_bundle[0], backend="tvm", threads=1) as classifier:
        classifier.run(classifier.bundle.golden()["inputs"][:4])
        assert tvm.runtime.num_threads() == 1


@pytest.mark.skipif(len(_AFFINITY_AT_START) < 2, reason="needs a process allowed on 2+ cores")
def test_a_one_thread_session_leaves_the_callers_affinity_alone(tvm_bundle: tuple[Path, Path]) -> None:
    with load(tvm_bundle[0], backend="tvm", threads=1) as classifier:
        classifier.run(classifier.bundle.golden()["inputs"][:4])
        assert os.sched_getaffinity(0) == _AFFINITY_AT_START
