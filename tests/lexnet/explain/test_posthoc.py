from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("captum")

from torch import nn  # noqa: E402

from lexnet.explain import posthoc  # noqa: E402
from lexnet.models import create_model, list_models  # noqa: E402
from lexnet.spec import ModelConfig  # noqa: E402

pytestmark = pytest.mark.torch

CELL = (6, 1)  # the one cell the toy model looks at


class OneCell(nn.Module):
    """Class 0's score is 5 x the input at CELL, class 1's is 0: the only cell that matters is CELL."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(1, 1, kernel_size=1, bias=False)
        with torch.no_grad():
            self.backbone.weight.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = self.backbone(x)[:, 0, CELL[0], CELL[1]]
        return torch.stack([5 * value, torch.zeros_like(value)], dim=1)


def _flows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 1.0, (n, 1, 20, 2)).astype(np.float32)


@pytest.mark.parametrize("method", ["gradient-shap", "kernel-shap"])
def test_shap_puts_the_only_cell_that_matters_first(method: str) -> None:
    values = posthoc.ATTRIBUTION_METHODS[method](OneCell().eval(), _flows(3), target=np.zeros(3, dtype=np.int64))
    assert values.shape == (3, 20, 2)
    flat = values.reshape(3, -1)
    assert (flat.argmax(axis=1) == CELL[0] * 2 + CELL[1]).all()
    others = np.delete(flat, CELL[0] * 2 + CELL[1], axis=1)
    assert np.abs(others).max() < 1e-3 * np.abs(flat).max()


def test_grad_cam_matches_a_hand_computed_map() -> None:
    torch.manual_seed(0)
    model = create_model(ModelConfig(arch="leresnet", num_classes=3)).eval()
    x = torch.from_numpy(_flows(2))
    captured = {}
    layer = posthoc.last_convolution(model)
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.setdefault("a", output))
    logits = model(x)
    handle.remove()
    target = logits.argmax(1)
    activations = captured["a"]
    (grads,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), activations)
    expected = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * activations).sum(1)).detach().numpy()
    np.testing.assert_allclose(posthoc.grad_cam(model, x.numpy()), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("arch", ["lexnet", "leresnet"])
@pytest.mark.parametrize("method", sorted(posthoc.ATTRIBUTION_METHODS))
def test_attributions_on_lexnet_and_leresnet(arch: str, method: str) -> None:
    torch.manual_seed(0)
    model = create_model(ModelConfig(arch=arch, num_classes=3)).eval()
    kwargs = {"n_samples": 20} if method == "kernel-shap" else {}
    values = posthoc.ATTRIBUTION_METHODS[method](model, _flows(2), **kwargs)
    assert values.shape == (2, 20, 2)
    assert np.isfinite(values).all()
    assert np.abs(values).max() > 0


def test_grad_cam_uses_the_last_convolution_of_the_backbone() -> None:
    model = create_model(ModelConfig(arch="lexnet", num_classes=3))
    last = model.backbone.stages[-1].conv2
    assert posthoc.last_convolution(model) is last


@pytest.mark.parametrize("arch", list_models())
def test_no_in_place_activation_anywhere_in_the_zoo(arch: str) -> None:
    # Captum's hooks (Grad-CAM, SHAP) break on in-place activations and in-place additions.
    model = create_model(ModelConfig(arch=arch, num_classes=3))
    in_place = [name for name, module in model.named_modules() if getattr(module, "inplace", False)]
    assert in_place == []


def test_training_mode_is_refused() -> None:
    model = create_model(ModelConfig(arch="leresnet", num_classes=3)).train()
    with pytest.raises(ValueError, match="eval mode"):
        posthoc.grad_cam(model, _flows(1))
