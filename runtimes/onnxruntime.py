"""ONNX Runtime backend: the CPU execution provider, and the CUDA provider where onnxruntime-gpu sees a GPU."""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
from lexnet.runtimes.base import BackendSession, RawOutputs
from lexnet.runtimes.errors import BackendError, BackendUnavailableError

__all__ = ["OnnxRuntimeSession"]

logger = logging.getLogger(__name__)

_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class OnnxRuntimeSession(BackendSession):
    """An ``onnxruntime.InferenceSession`` over the artifact's .onnx file.

    ``threads`` sets ``intra_op_num_threads`` (inter-op stays 1: the graph is a single chain). ``InferenceSession.
    run`` is thread-safe, so concurrent ``run`` calls share the session.
    """

    name: ClassVar[str] = "onnxruntime"
    extra: ClassVar[str] = "onnx"
    requires: ClassVar[tuple[str, ...]] = ("onnxruntime",)
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")

    @classmethod
    def device_available(cls, device: str) -> bool:
        import onnxruntime

        return device in _PROVIDERS and _PROVIDERS[device] in onnxruntime.get_available_providers()

    def load(self) -> None:
        import onnxruntime

        if not self.device_available(self.device):
            raise BackendUnavailableError(
                f"onnxruntime has no {_PROVIDERS[self.device]} here (available: "
                f"{onnxruntime.get_available_providers()}); install onnxruntime-gpu for CUDA"
            )
        if self.artifact is None:
            raise BackendError("onnxruntime needs an artifact from the bundle")
        model_path = self.bundle.verified_path(self.artifact.file_with_suffix(".onnx"))

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        for key, value in self.artifact.hints.items():
            options.add_session_config_entry(str(key), str(value))
        providers = [_PROVIDERS[self.device]] + (["CPUExecutionProvider"] if self.device != "cpu" else [])
        try:
            self._session = onnxruntime.InferenceSession(str(model_path), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own untyped exceptions
            raise BackendError(f"onnxruntime could not load {model_path}: {error}") from error
        if self.device == "cuda" and "CUDAExecutionProvider" not in self._session.get_providers():
            raise BackendUnavailableError(f"onnxruntime did not enable CUDA for {model_path}")

        self._input_name = self._session.get_inputs()[0].name
        self._output_names = [output.name for output in self._session.get_outputs()]
        batch = self._session.get_inputs()[0].shape[0]
        self.batch_size = batch if isinstance(batch, int) else None
        self._loaded = True
        logger.info("loaded %s with %s threads", self.describe(), self.threads or "default")

    def _run_batch(self, flows: np.ndarray) -> RawOutputs:
        try:
            values = self._session.run(self._output_names, {self._input_name: self.model_input(flows)})
        except Exception as error:  # onnxruntime raises its own untyped exceptions
            raise BackendError(f"{self.describe()} failed on a batch of {len(flows)}: {error}") from error
        return self.outputs_from(dict(zip(self._output_names, values, strict=True)))

    def close(self) -> None:
        self._session = None
        self._loaded = False
