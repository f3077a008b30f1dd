"""Post-hoc attributions from captum: Grad-CAM on the last convolution and SHAP (gradient or kernel).

Every function takes a model of the zoo (LEXNet, LEResNet, ...) and a batch of scaled inputs
[N, 1, packets, variables] and returns attributions [N, packets, variables] as numpy, for the predicted class
unless ``target`` says otherwise. Every convolution of the zoo keeps the 20 x 2 map, so Grad-CAM's map is
already at input resolution: cell (p, v) of the attribution is packet p, variable v of the flow.

Example:
    >>> cam = grad_cam(model, scaled)             # [N, 20, 2]
    >>> shap = gradient_shap(model, scaled, baselines=scaled_training_sample)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

__all__ = ["ATTRIBUTION_METHODS", "LogitsOnly", "grad_cam", "gradient_shap", "kernel_shap", "last_convolution"]

logger = logging.getLogger(__name__)


class LogitsOnly(nn.Module):
    """The model's class scores only: prototype models return a ``PrototypeOutput``, captum wants a tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out.logits if hasattr(out, "logits") else out


def last_convolution(model: nn.Module) -> nn.Conv2d:
    """The last ``nn.Conv2d`` of the model's backbone (Grad-CAM's layer)."""
    backbone = getattr(model, "backbone", model)
    convolutions = [m for m in backbone.modules() if isinstance(m, nn.Conv2d)]
    if not convolutions:
        raise ValueError(f"{type(model).__name__} has no convolution for Grad-CAM")
    return convolutions[-1]


def _targets(scores: nn.Module, x: torch.Tensor, target: torch.Tensor | np.ndarray | None) -> torch.Tensor:
    if target is not None:
        return torch.as_tensor(target, dtype=torch.long)
    with torch.no_grad():
        return scores(x).argmax(dim=1)


def _prepare(model: nn.Module, scaled: np.ndarray | torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    if model.training:
        raise ValueError("put the model in eval mode first: BatchNorm statistics would change under attribution")
    x = torch.as_tensor(np.asarray(scaled, dtype=np.float32))
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected scaled inputs [N, 1, packets, variables], got {list(x.shape)}")
    return LogitsOnly(model), x


def grad_cam(
    model: nn.Module,
    scaled: np.ndarray | torch.Tensor,
    target: torch.Tensor | np.ndarray | None = None,
    relu: bool = True,
) -> np.ndarray:
    """Grad-CAM on the backbone's last convolution: attributions [N, packets, variables].

    Args:
        model: a model of the zoo, in eval mode.
        scaled: scaled inputs [N, 1, packets, variables].
        target: class per flow (default: the predicted class).
        relu: keep only positive evidence, as Grad-CAM does; ``False`` keeps the signed map.
    """
    from captum.attr import LayerAttribution, LayerGradCam

    scores, x = _prepare(model, scaled)
    targets = _targets(scores, x, target)
    cam = LayerGradCam(scores, last_convolution(model)).attribute(x, target=targets, relu_attributions=relu)
    if cam.shape[-2:] != x.shape[-2:]:
        cam = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]))
    return cam.detach()[:, 0].numpy()


def gradient_shap(
    model: nn.Module,
    scaled: np.ndarray | torch.Tensor,
    target: torch.Tensor | np.ndarray | None = None,
    baselines: np.ndarray | torch.Tensor | None = None,
    n_samples: int = 32,
    seed: int = 0,
    batch_size: int = 64,
) -> np.ndarray:
    """SHAP values by expected gradients (captum's ``GradientShap``): attributions [N, packets, variables].

    Args:
        model: a model of the zoo, in eval mode.
        scaled: scaled inputs [N, 1, packets, variables].
        target: class per flow (default: the predicted class).
        baselines: reference flows [B, 1, packets, variables], ideally a sample of the training set
            (default: the empty flow, all zeros).
        n_samples: random baseline/interpolation draws per flow.
        seed: seed of those draws, so attributions are reproducible.
        batch_size: flows per captum call; each call runs ``batch_size * n_samples`` flows at once, and LEXNet's
            distance map grows with that (about 65 kB per flow), so this bounds the memory.
    """
    from captum.attr import GradientShap

    scores, x = _prepare(model, scaled)
    targets = _targets(scores, x, target)
    reference = torch.zeros_like(x[:1]) if baselines is None else torch.as_tensor(np.asarray(baselines, np.float32))
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        explainer = GradientShap(scores)
        chunks = [
            explainer.attribute(
                x[i : i + batch_size], baselines=reference, target=targets[i : i + batch_size], n_samples=n_samples
            ).detach()
            for i in range(0, len(x), batch_size)
        ]
    finally:
        torch.set_rng_state(state)
    return torch.cat(chunks)[:, 0].numpy()


def kernel_shap(
    model: nn.Module,
    scaled: np.ndarray | torch.Tensor,
    target: torch.Tensor | np.ndarray | None = None,
    baselines: np.ndarray | torch.Tensor | None = None,
    n_samples: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Kernel SHAP with one feature per (packet, variable) cell (captum's ``KernelShap``), one flow at a time.

    Model-agnostic but about ``n_samples`` forward passes per flow: use it on a few flows, and
    ``gradient_shap`` for tables over many flows. ``baselines`` is one reference flow [1, 1, packets, variables]
    (default: zeros).
    """
    from captum.attr import KernelShap

    scores, x = _prepare(model, scaled)
    targets = _targets(scores, x, target)
    reference = torch.zeros_like(x[:1]) if baselines is None else torch.as_tensor(np.asarray(baselines, np.float32))
    mask = torch.arange(x[0].numel()).view(1, *x.shape[1:])
    explainer = KernelShap(scores)
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        rows = [
            explainer.attribute(
                x[i : i + 1], baselines=reference[:1], target=int(targets[i]), feature_mask=mask, n_samples=n_samples
            )
            for i in range(len(x))
        ]
    finally:
        torch.set_rng_state(state)
    return torch.cat(rows).detach()[:, 0].numpy()


ATTRIBUTION_METHODS: dict[str, Callable[..., np.ndarray]] = {
    "grad-cam": grad_cam,
    "gradient-shap": gradient_shap,
    "kernel-shap": kernel_shap,
}
