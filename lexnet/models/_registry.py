"""The model registry: a name for each architecture of the zoo."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from lexnet.spec import ModelConfig

Builder = Callable[["ModelConfig"], "nn.Module"]

_MODELS: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Register a builder under ``name``; a second model with the same name raises."""

    def decorate(builder: Builder) -> Builder:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = builder
        return builder

    return decorate


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_MODELS)


def get_builder(name: str) -> Builder:
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(list_models())}") from None
