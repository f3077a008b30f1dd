"""The project's exception types; backend exceptions are re-raised as these with ``from``."""

from __future__ import annotations

__all__ = ["CheckpointError", "DataFormatError", "LexnetError"]


class LexnetError(Exception):
    """Base class of every error this project raises on purpose."""


class DataFormatError(LexnetError, ValueError):
    """A flow file is missing, malformed or inconsistent; the message names the file and the problem."""


class CheckpointError(LexnetError, ValueError):
    """A checkpoint is missing, incomplete or inconsistent."""
