"""TVM backend: the Relax virtual machine over the artifact's compiled library (.so), on CPU or CUDA."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, ClassVar

import numpy as np
from lexnet.runtimes.base import BackendSession, RawOutputs
from lexnet.runtimes.errors import BackendError, BackendUnavailableError

__all__ = ["TvmSession"]

logger = logging.getLogger(__name__)

# TVM's affinity mode for its thread pool: 1 keeps the workers on the "big" cores (all cores on a server CPU).
_AFFINITY_BIG_CORES = 1


def _device(device: str) -> Any:
    import tvm

    return tvm.cpu(0) if device == "cpu" else tvm.cuda(0)


def _calling_thread_affinity() -> set[int] | None:
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None


def _restore_affinity(affinity: set[int] | None) -> None:
    if affinity is None:
        return
    if (now := os.sched_getaffinity(0)) != affinity:
        logger.debug("TVM changed this thread's CPU affinity to %s; restoring %s", now, affinity)
        os.sched_setaffinity(0, affinity)


class TvmSession(BackendSession):
    """A ``VirtualMachine`` over the artifact's library.

    ``threads`` configures TVM's thread pool, which is one per process: the last session loaded with a thread
    count sets it for every TVM session in the process. The VM keeps per-call state, so calls are serialized by
    a lock (TVM parallelizes inside each call). An artifact compiled for a static batch records it in its
    ``hints`` as ``batch_size``; ``run`` then feeds it chunks of that size.
    """

    name: ClassVar[str] = "tvm"
    extra: ClassVar[str] = "tvm"
    requires: ClassVar[tuple[str, ...]] = ("tvm",)
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")

    @classmethod
    def device_available(cls, device: str) -> bool:
        return device in cls.devices and bool(_device(device).exist)

    def _configure_threads(self) -> None:
        import tvm

        if self.threads is None:
            return
        configure = tvm.get_global_func("runtime.config_threadpool", allow_missing=True)
        if configure is None:
            logger.warning("this TVM has no runtime.config_threadpool; threads=%d is not applied", self.threads)
            return
        # TVM pins the calling thread to the cores it hands its workers; thread pools created later in the process
        # (ONNX Runtime, OpenVINO, PyTorch) inherit that mask, so a 2-thread session elsewhere would run on one core.
        affinity = _calling_thread_affinity()
        try:
            configure(_AFFINITY_BIG_CORES, self.threads)
        finally:
            _restore_affinity(affinity)

    def load(self) -> None:
        import tvm
        from tvm.runtime.vm import VirtualMachine

        if not self.device_available(self.device):
            raise BackendUnavailableError(f"TVM sees no {self.device} device here")
        if self.artifact is None:
            raise BackendError("tvm needs an artifact from the bundle")
        library = self.bundle.verified_path(self.artifact.file_with_suffix(".so"))
        self._configure_threads()
        self._dev = _device(self.device)
        try:
            self._vm = VirtualMachine(tvm.runtime.load_module(str(library)), self._dev)
        except (tvm.TVMError, RuntimeError, OSError) as error:
            raise BackendError(f"TVM could not load {library} on {self.device}: {error}") from error
        self.batch_size = self.artifact.hints.get("batch_size")
        self._lock = threading.Lock()
        self._loaded = True
        logger.info("loaded %s with %s threads", self.describe(), self.threads or "default")

    def _run_batch(self, flows: np.ndarray) -> RawOutputs:
        import tvm

        with self._lock:
            try:
                result = self._vm["main"](tvm.runtime.tensor(np.ascontiguousarray(self.model_input(flows)), self._dev))
            except (tvm.TVMError, RuntimeError) as error:
                raise BackendError(f"{self.describe()} failed on a batch of {len(flows)}: {error}") from error
            values = [result.numpy()] if hasattr(result, "numpy") else [item.numpy() for item in result]
        return self.outputs_from(dict(zip(self.bundle.manifest.outputs, values, strict=True)))

    def close(self) -> None:
        self._vm = None
        self._loaded = False
