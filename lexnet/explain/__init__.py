"""Explanations people can read, post-hoc baselines (Grad-CAM, SHAP) and the faithfulness measurements.

Importing this package is cheap: ``describe`` and ``faithfulness`` need only numpy, ``render`` and ``plots``
matplotlib, and ``posthoc``, ``deletion`` and ``sweep`` torch (``posthoc`` also captum, the ``explain`` extra).
"""

from __future__ import annotations

__all__ = ["deletion", "describe", "faithfulness", "plots", "posthoc", "render", "sweep"]
