"""LEXNet: explainable-by-design encrypted traffic classification, from training to router-ready artifacts.

Importing this package is cheap on purpose: it pulls in nothing heavier than the standard library, so
router-side code (``lexnet.runtimes``) runs where torch is not installed.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
