"""Credible intervals: one definition of the equal-tailed interval used across the package.

An equal-tailed interval (ETI) at level ``p`` spans the ``(1 - p) / 2`` and ``(1 + p) / 2``
quantiles of the draws. It is what plans, predictions, plots and backtests report, labelled
``eti_5%`` / ``eti_95%`` at 90 %. ArviZ's highest-density interval (HDI) appears only in
``Fit.summary`` (ArviZ's own ``hdi_5%`` / ``hdi_95%`` columns).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayesmoe.config import INTERVAL_PROB


def eti_bounds(prob: float = INTERVAL_PROB) -> tuple[float, float]:
    """The two quantile levels of the equal-tailed interval at ``prob``."""
    if not 0 < prob < 1:
        raise ValueError(f"interval probability must lie in (0, 1), got {prob}")
    return (1 - prob) / 2, (1 + prob) / 2


def eti_labels(prob: float = INTERVAL_PROB) -> tuple[str, str]:
    """Column labels of the interval's ends, e.g. ``("eti_5%", "eti_95%")`` at 0.9."""
    lo, hi = eti_bounds(prob)
    return f"eti_{lo * 100:g}%", f"eti_{hi * 100:g}%"


def eti(values: Any, prob: float = INTERVAL_PROB, axis: int | None = None) -> tuple[Any, Any]:
    """The ends of the equal-tailed interval of ``values`` (along ``axis``; all values if None)."""
    lo, hi = np.quantile(np.asarray(values, float), eti_bounds(prob), axis=axis)
    return lo, hi


def median_eti(values: Any, prob: float = INTERVAL_PROB) -> pd.Series:
    """Median and equal-tailed interval of a set of draws, labelled as in :func:`eti_labels`."""
    flat = np.asarray(values, float).reshape(-1)
    lo, hi = eti(flat, prob)
    a, b = eti_labels(prob)
    return pd.Series({"median": float(np.median(flat)), a: float(lo), b: float(hi)})


def weighted_eti(sorted_values: np.ndarray, weights: np.ndarray, prob: float = INTERVAL_PROB) -> tuple[Any, Any]:
    """The equal-tailed interval of weighted draws, for many weightings at once.

    ``sorted_values`` (n,) must be ascending; ``weights`` (..., n) are in the same order and sum
    to one along the last axis. Returns the two ends with the leading shape of ``weights``
    (the smallest value whose cumulative weight reaches each quantile level).
    """
    cum = np.cumsum(weights, axis=-1)
    lo_q, hi_q = eti_bounds(prob)
    n = sorted_values.shape[0]
    lo = sorted_values[np.minimum((cum < lo_q).sum(axis=-1), n - 1)]
    hi = sorted_values[np.minimum((cum < hi_q).sum(axis=-1), n - 1)]
    return lo, hi
