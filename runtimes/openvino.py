"""OpenVINO backend: the CPU plugin with the artifact's precision hint, and the GPU plugin where present."""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar

import numpy as np
from lexnet.runtimes.base import BackendSession, RawOutputs
from lexnet.runtimes.errors import BackendError, BackendUnavailableError

__all__ = ["OpenVinoSession"]

logger = logging.getLogger(__name__)

_DEVICES = {"cpu": "CPU", "gpu": "GPU"}
# OpenVINO's CPU plugin silently runs in bf16 on CPUs with AVX512-BF16 or AMX unless told otherwise, so every
# precision asks for its own inference precision explicitly.
_PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}


class OpenVinoSession(BackendSession):
    """A compiled OpenVINO model from the artifact's IR (.xml + .bin).

    ``threads`` sets ``INFERENCE_NUM_THREADS``. The artifact's ``hints`` are applied as compile properties,
    with ``INFERENCE_PRECISION_HINT`` defaulting to the artifact's precision (f32 for FP32: see above). Each
    calling thread gets its own infer request, so concurrent ``run`` calls do not share state.
    """

    name: ClassVar[str] = "openvino"
    extra: ClassVar[str] = "openvino"
    requires: ClassVar[tuple[str, ...]] = ("openvino",)
    devices: ClassVar[tuple[str, ...]] = ("cpu", "gpu")

    @classmethod
    def device_available(cls, device: str) -> bool:
        import openvino

        return device in _DEVICES and _DEVICES[device] in openvino.Core().available_devices

    def compile_properties(self) -> dict[str, Any]:
        """Properties passed to ``compile_model``: the artifact's hints, its precision, the thread count."""
        properties: dict[str, Any] = {}
        if self.artifact is not None and self.artifact.precision in _PRECISION_HINTS:
            properties["INFERENCE_PRECISION_HINT"] = _PRECISION_HINTS[self.artifact.precision]
        if self.artifact is not None:
            properties.update({str(k): v for k, v in self.artifact.hints.items()})
        if self.threads is not None:
            properties["INFERENCE_NUM_THREADS"] = self.threads
        return properties

    def load(self) -> None:
        import openvino

        core = openvino.Core()
        if _DEVICES[self.device] not in core.available_devices:
            raise BackendUnavailableError(
                f"OpenVINO sees no {_DEVICES[self.device]} device here (available: {core.available_devices})"
            )
        if self.artifact is None:
            raise BackendError("openvino needs an artifact from the bundle")
        xml = self.bundle.verified_path(self.artifact.file_with_suffix(".xml"))
        weights = self.bundle.verified_path(self.artifact.file_with_suffix(".bin"))
        properties = self.compile_properties()
        try:
            model = core.read_model(str(xml), str(weights))
            self._compiled = core.compile_model(model, _DEVICES[self.device], properties)
        except RuntimeError as error:
            raise BackendError(f"OpenVINO could not compile {xml} for {self.device}: {error}") from error

        self._output_names = [output.get_any_name() for output in self._compiled.outputs]
        batch = self._compiled.inputs[0].get_partial_shape()[0]
        self.batch_size = batch.get_length() if batch.is_static else None
        self._local = threading.local()
        self._loaded = True
        logger.info("loaded %s with %s", self.describe(), properties)

    def _request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        return request

    def _run_batch(self, flows: np.ndarray) -> RawOutputs:
        try:
            results = self._request().infer({0: self.model_input(flows)})
        except RuntimeError as error:
            raise BackendError(f"{self.describe()} failed on a batch of {len(flows)}: {error}") from error
        values = [np.array(results[output], copy=True) for output in self._compiled.outputs]
        return self.outputs_from(dict(zip(self._output_names, values, strict=True)))

    def close(self) -> None:
        self._compiled = None
        self._local = threading.local()
        self._loaded = False
